// Package dashboard serves the marketing dashboard at /dashboard: pages
// rendered on the server with go-echarts over the aggregator's query engine,
// signed-in with an API key or opened through a signed, read-only link
// scoped to one group or credential. Every asset is embedded and served
// from /dashboard/assets/, so a page never asks another host for anything.
package dashboard

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/logthrottle"
	"github.com/credstats/credstats/internal/ttlcache"
)

// Engine answers stats queries: the aggregator's *query.Engine.
type Engine interface {
	// Page answers a query without counting its rows in all, which the
	// pages do not show (query.Engine.Page).
	Page(ctx context.Context, q query.Query) (query.Result, error)
	// Export streams a query's rows, as the export API does.
	Export(ctx context.Context, q query.Query) (*query.Cursor, error)
}

// Options configure a Dashboard. Engine, Keys and Conn are required.
type Options struct {
	Engine Engine
	Keys   *auth.Keys
	// Conn reads the shared links; it may be read-only.
	Conn driver.Conn
	// Secret signs sessions and shared links (auth.LoadSecret). Without one a
	// random secret is made: sessions end with the process and no link
	// made by `credstats links` opens.
	Secret []byte
	Logger *slog.Logger
	// Limited wraps the sign-in form's handler with the per-client rate
	// limit; nil leaves it unlimited.
	Limited func(fiber.Handler) fiber.Handler
	// Guard holds back clients that fail to sign in or open links too
	// often; nil holds back none.
	Guard auth.Guard
	// Ready reports whether ClickHouse has answered with the current
	// schema; until it does, pages say the dashboard is starting. Nil: ready.
	Ready func() bool
	// CacheTTL is how long a checked key or link is trusted before it is
	// checked again, so how long a revocation takes to bite; default 10s,
	// negative: no cache.
	CacheTTL time.Duration
	// SessionTTL is how long a sign-in lasts; default 7 days.
	SessionTTL time.Duration
	// Budget is how long a page waits for its sections before it leaves
	// the slow ones to load on their own in the browser; default 1.5s.
	Budget time.Duration
	// SectionTimeout bounds the queries of one section; default 10s.
	SectionTimeout time.Duration
	// Location is the time zone of dates and charts; default UTC.
	Location *time.Location
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Dashboard serves the pages.
type Dashboard struct {
	o        Options
	links    *auth.Links
	sessions *ttlcache.Cache[string, sessionCheck] // by key id
	warn     *slog.Logger                          // rate-limited: anonymous requests reach it

	mu      sync.Mutex
	flights map[string]*flight // by section address
}

type sessionCheck struct {
	key auth.Key
	err error
}

// New fills the defaults of o and returns the dashboard.
func New(o Options) *Dashboard {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.Secret) == 0 {
		o.Secret = make([]byte, auth.MinSecret)
		rand.Read(o.Secret)
		o.Logger.Warn("the dashboard has no secret: sign-ins end with this process and shared links do not open")
	}
	if o.Limited == nil {
		o.Limited = func(h fiber.Handler) fiber.Handler { return h }
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = 10 * time.Second
	}
	if o.Ready == nil {
		o.Ready = func() bool { return true }
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 7 * 24 * time.Hour
	}
	if o.Budget == 0 {
		o.Budget = 1500 * time.Millisecond
	}
	if o.SectionTimeout <= 0 {
		o.SectionTimeout = query.DefaultTimeout
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &Dashboard{o: o, links: auth.NewLinks(o.Conn, o.Secret, o.CacheTTL), flights: map[string]*flight{},
		warn: logthrottle.New(o.Logger, 10*time.Second)}
	if o.CacheTTL > 0 {
		d.sessions = ttlcache.New[string, sessionCheck](4096, o.Now)
	}
	return d
}

// Routes registers /dashboard and everything below it.
func (d *Dashboard) Routes(r fiber.Router) {
	// Pages and sections go out compressed (a page's 30 KB of HTML is 4 KB
	// gzipped); assets carry their own gzip, and CSVs stream as they are.
	r.Use("/dashboard", compress.New(compress.Config{Next: func(c *fiber.Ctx) bool {
		return strings.HasPrefix(c.Path(), "/dashboard/assets/") || strings.HasSuffix(c.Path(), ".csv")
	}}))
	r.Get("/dashboard/assets/:name", serveAsset)
	r.Get("/dashboard/login", d.loginPage)
	r.Post("/dashboard/login", d.pageWhenLimited(d.o.Limited(d.login)))
	r.Post("/dashboard/logout", d.logout)

	// The same pages for a signed-in reader and behind a shared link.
	for base, admit := range map[string]fiber.Handler{"/dashboard": d.requireSession, "/dashboard/s/:token": d.requireLink} {
		r.Get(base, admit, d.overview)
		r.Get(base+"/sections/:section", admit, d.section)
		r.Get(base+"/export.csv", admit, d.export)
		r.Get(base+"/credentials/:id", admit, d.credentialPage)
		r.Get(base+"/credentials/:id/sections/:section", admit, d.section)
		r.Get(base+"/credentials/:id/export.csv", admit, d.export)
	}
}
