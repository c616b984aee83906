// Package server puts the collector, the aggregator, the beacon and the
// demo page behind one Fiber app, and starts and stops them in order.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/credstats/credstats/aggregator"
	"github.com/credstats/credstats/aggregator/query"
	beaconjs "github.com/credstats/credstats/beacon-js"
	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/compat"
	"github.com/credstats/credstats/dashboard"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/demo"
	"github.com/credstats/credstats/internal/edge"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/registry"
	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/internal/unfurl"
	"github.com/credstats/credstats/lifecycle"
	"github.com/credstats/credstats/schema"
)

// The roles a server can take: all of them, or one, for deployments that
// scale ingest and reading apart.
const (
	RoleAll        = "all"
	RoleCollector  = "collector"  // ingest routes, the beacon and the demo page
	RoleAggregator = "aggregator" // stats, query, export, badge and the dashboard
)

// Options configure a Server.
type Options struct {
	Role       string // RoleAll when empty
	ClickHouse string // clickhouse://host:port/database
	// Cluster is the ClickHouse cluster the schema lives on (see
	// schema.Cluster), empty for one server.
	Cluster string
	// Migrate applies the schema's migrations once ClickHouse answers.
	// Without it the server waits for `credstats migrate` to have run.
	Migrate      bool
	QueryTimeout time.Duration // bound on each stats query; default 10s
	// ExportTimeout bounds one export from its query to its last byte;
	// default 5m.
	ExportTimeout time.Duration
	KeyCacheTTL   time.Duration // how long a checked API key is trusted; negative: not cached
	// Public counters: how long they are answered from memory (default 5s,
	// negative: not cached) and how old they may be while ClickHouse fails
	// (default 5m).
	StatsCacheTTL time.Duration
	StatsStaleFor time.Duration
	// Retention is how many months of raw events are kept (0: forever);
	// older months are dropped, and the rollups keep their counts.
	Retention lifecycle.Retention
	Logger    *slog.Logger
	// Collector's Sink, Logger and Registerer are filled in by New.
	Collector collector.Options
	// Dashboard's Engine, Keys, Conn, Logger, Limited and CacheTTL are
	// filled in by New.
	Dashboard dashboard.Options
}

// Server is the whole credstats service.
type Server struct {
	o         Options
	app       *fiber.App
	collector *collector.Collector // nil in the aggregator role
	gate      *edge.Gate           // the public routes' client address and rate limit
	write     driver.Conn          // inserts
	read      driver.Conn          // read-only, time-limited

	// ready is set once ClickHouse has answered with the current schema;
	// until then the aggregator's routes answer 503 while the collector
	// takes events into its spool.
	ready    atomic.Bool
	notReady atomic.Pointer[string] // why not, for /readyz
	stop     context.CancelFunc     // stops the start-up loop
	life     lifecycleParts
	wg       sync.WaitGroup
	unfurls  *unfurl.Recorder // nil in the collector role
}

// New starts the collector and builds the routes. It does not wait for
// ClickHouse: a loop in the background migrates (with Options.Migrate) and
// checks the schema until ClickHouse answers, and the aggregator's routes
// answer 503 until then.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueryTimeout == 0 {
		o.QueryTimeout = query.DefaultTimeout
	}
	if o.KeyCacheTTL == 0 {
		o.KeyCacheTTL = 10 * time.Second
	}
	switch o.Role {
	case "":
		o.Role = RoleAll
	case RoleAll, RoleCollector, RoleAggregator:
	default:
		return nil, fmt.Errorf("unknown role %q: use %s, %s or %s", o.Role, RoleAll, RoleCollector, RoleAggregator)
	}
	s := &Server{o: o}
	var err error
	if s.write, err = store.Connect(o.ClickHouse, store.Options{Cluster: o.Cluster != ""}); err != nil {
		return nil, err
	}
	if s.read, err = store.Connect(o.ClickHouse, store.Options{ReadOnly: true, MaxExecutionTime: o.QueryTimeout, Cluster: o.Cluster != ""}); err != nil {
		s.write.Close()
		return nil, err
	}
	why := "ClickHouse has not answered yet"
	s.notReady.Store(&why)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.newLifecycle(reg)
	co := o.Collector
	if o.Role == RoleAggregator {
		s.gate, err = edge.NewGate(edge.GateOptions{TrustedProxies: co.TrustedProxies, Rate: co.RateLimit, Burst: co.RateBurst, Now: co.Now})
	} else {
		co.Sink = collector.ClickHouseSink{Conn: s.write}
		co.Logger = o.Logger
		co.Registerer = reg
		if s.collector, err = collector.New(co); err == nil {
			s.gate = s.collector.Gate()
		}
	}
	if err != nil {
		s.closeConns()
		return nil, err
	}
	s.app = fiber.New(fiber.Config{
		ErrorHandler:          edge.ErrorHandler(o.Logger),
		BodyLimit:             64 << 10,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		DisableStartupMessage: true,
		// Every string a handler reads from the request is a copy: Fiber
		// otherwise hands out views of buffers it reuses for the next
		// request, which change under any cache key or goroutine that
		// keeps them.
		Immutable: true,
	})
	s.routes(reg, auth.NewKeys(s.read, o.KeyCacheTTL))
	startCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	s.wg.Go(func() { s.prepare(startCtx) })
	s.wg.Go(func() { s.keep(startCtx) })
	return s, nil
}

// prepare migrates (when asked to) and checks the schema until both
// succeed, retrying with backoff while ClickHouse is away, then marks the
// server ready.
func (s *Server) prepare(ctx context.Context) {
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		err := s.migrate(ctx)
		if err == nil {
			err = s.checkSchema(ctx)
		}
		if err == nil {
			s.ready.Store(true)
			s.notReady.Store(nil)
			if attempt > 1 {
				s.o.Logger.Info("ClickHouse answers and the schema is current: serving stats", "attempts", attempt)
			}
			return
		}
		why := err.Error()
		s.notReady.Store(&why)
		if attempt == 1 || attempt%10 == 0 {
			s.o.Logger.Warn("not ready: the collector spools events meanwhile", "err", err, "attempt", attempt)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (s *Server) migrate(ctx context.Context) error {
	if !s.o.Migrate {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := store.EnsureClusterDatabase(ctx, s.o.ClickHouse, s.o.Cluster); err != nil {
		return err
	}
	from, to, err := schema.Migrate(ctx, s.write, schema.Options{Logger: s.o.Logger, Cluster: s.o.Cluster, DSN: s.o.ClickHouse})
	if err == nil && from != to {
		s.o.Logger.Info("schema migrated", "from", from, "to", to)
	}
	return err
}

// Ready reports whether ClickHouse has answered with the current schema.
func (s *Server) Ready() bool { return s.ready.Load() }

// untilReady answers 503 on a route that needs ClickHouse until the server
// is ready.
func (s *Server) untilReady(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !s.ready.Load() {
			c.Set(fiber.HeaderRetryAfter, "5")
			return edge.Unavailable("credstats is starting and ClickHouse has not answered yet; try again shortly")
		}
		return h(c)
	}
}

func (s *Server) routes(reg *prometheus.Registry, keyStore *auth.Keys) {
	app := s.app
	app.Use(recover.New())
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))

	if s.collector != nil {
		app.Get("/beacon.js", beacon(false))
		app.Get("/beacon.:version.js", beacon(true))
		app.Get("/", func(c *fiber.Ctx) error { return c.Redirect("/demo") })
		app.Get("/demo", demoPage)
		app.Get("/demo/:credential", demoPage)
		s.collector.Routes(app)
		groups := registry.NewGroups(registry.Store{Conn: s.read}, 100_000, time.Minute)
		compat.BadgesNinjaIngestRoutes(app, s.collector, groups.Of)
		compat.CertifierRoutes(app, s.collector, keyStore.Require(auth.EventsWrite, s.gate), groups.Of)
	}
	if s.o.Role != RoleCollector {
		s.aggregatorRoutes(keyStore)
	}
	s.operatorRoutes(keyStore)
	s.orgRoutes(keyStore)
	app.Use(func(c *fiber.Ctx) error { return edge.NotFound("no route " + c.Method() + " " + c.Path()) })
}

func (s *Server) aggregatorRoutes(keyStore *auth.Keys) {
	app := s.app
	if s.collector == nil {
		app.Get("/", func(c *fiber.Ctx) error { return c.Redirect("/dashboard") })
	}
	s.unfurls = unfurl.NewRecorder(unfurl.Options{Conn: s.write, Logger: s.o.Logger})
	api := aggregator.New(aggregator.Options{
		Conn: s.read, Write: s.write, Logger: s.o.Logger, Now: s.o.Collector.Now, QueryTimeout: s.o.QueryTimeout, ExportTimeout: s.o.ExportTimeout,
		CacheTTL: s.o.StatsCacheTTL, StaleFor: s.o.StatsStaleFor, Unfurls: s.unfurls,
	})
	limited := func(h fiber.Handler) fiber.Handler { return s.gate.Limited(s.untilReady(h)) }
	api.Routes(app, limited, s.untilReady(keyStore.Require(auth.StatsRead, s.gate)))
	api.RegistryRoutes(app, s.untilReady(keyStore.Require(auth.RegistryWrite, s.gate)), s.untilReady(keyStore.Require(auth.StatsRead, s.gate)), limited)
	compat.BadgesNinjaStatsRoutes(app, api, limited)
	s.life.forget = api.Forget

	dash := s.o.Dashboard
	dash.Engine, dash.Keys, dash.Conn = api.Engine(), keyStore, s.read
	dash.Logger, dash.Limited, dash.CacheTTL = s.o.Logger, s.gate.Limited, s.o.KeyCacheTTL
	dash.Ready, dash.Guard = s.Ready, s.gate
	if dash.SectionTimeout == 0 {
		dash.SectionTimeout = s.o.QueryTimeout
	}
	if dash.Now == nil {
		dash.Now = s.o.Collector.Now // The engine's clock, for the ranges it resolves.
	}
	dashboard.New(dash).Routes(app)
}

// beacon serves the script: /beacon.js for embeds, revalidated hourly,
// and /beacon.VERSION.js, cached for good when VERSION is the current one.
func beacon(versioned bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
		c.Set(fiber.HeaderETag, `"`+beaconjs.Version+`"`)
		c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
		switch {
		case versioned && c.Params("version") == beaconjs.Version:
			c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
		default:
			c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
		}
		if c.Get(fiber.HeaderIfNoneMatch) == `"`+beaconjs.Version+`"` {
			return c.SendStatus(fiber.StatusNotModified)
		}
		return c.Send(beaconjs.Script)
	}
}

func demoPage(c *fiber.Ctx) error {
	id := c.Params("credential", "demo-credential")
	if !event.ValidID(id) {
		return edge.Invalid("credential: must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'")
	}
	group := c.Query("group", "demo-program")
	if !event.ValidID(group) {
		group = ""
	}
	var buf bytes.Buffer
	if err := demo.Render(&buf, demo.Page{Credential: id, Group: group, BeaconSrc: "/beacon.js"}); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(buf.Bytes())
}

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	var backlog *collector.Backlog
	if s.collector != nil {
		b := s.collector.Backlog()
		backlog = &b
	}
	err := s.checkSchema(ctx)
	if why := s.notReady.Load(); err == nil && why != nil {
		err = errors.New(*why)
	}
	if err != nil {
		// The collector still takes events into its spool meanwhile; the
		// backlog says how far behind it is.
		e := edge.Unavailable(err.Error())
		return c.Status(e.Status).JSON(fiber.Map{"error": edge.Envelope(e).(edge.Body).Error, "backlog": backlog})
	}
	return c.JSON(fiber.Map{"status": "ready", "role": s.o.Role, "schema": schema.Latest(), "backlog": backlog})
}

func (s *Server) checkSchema(ctx context.Context) error {
	st, err := schema.Current(ctx, s.write)
	switch {
	case err != nil:
		return fmt.Errorf("ClickHouse is not reachable: %w", err)
	case !st.Ready():
		return fmt.Errorf("the schema is at version %d (dirty %v, missing %v), this build needs %d: run `credstats migrate`", st.Version, st.Dirty, st.Missing, schema.Latest())
	}
	return nil
}

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.app.Listener(ln)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "closed") {
		return err
	}
	return nil
}

// Shutdown stops taking requests, then writes what the collector holds and
// closes the connections; the steps after HTTP give up when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	httpErr := s.app.ShutdownWithContext(ctx)
	s.stop()
	s.wg.Wait()
	var collErr, unfurlErr error
	if s.collector != nil {
		collErr = s.collector.Close(ctx)
	}
	if s.unfurls != nil {
		unfurlErr = s.unfurls.Close(ctx)
	}
	s.closeConns()
	return errors.Join(httpErr, collErr, unfurlErr)
}

func (s *Server) closeConns() {
	s.write.Close()
	s.read.Close()
}
