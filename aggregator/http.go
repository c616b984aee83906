// Package aggregator is the HTTP API over the rollup tables: the public
// per-credential counters and badge, the query API and its export, and
// the OpenAPI document. The queries themselves are package query's, the
// counters package counters'; the badges.ninja-compatible stats route is
// package compat's, over Stats.
package aggregator

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/aggregator/counters"
	"github.com/credstats/credstats/aggregator/export"
	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/edge"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/logthrottle"
	"github.com/credstats/credstats/internal/unfurl"
)

// OpenAPI is the OpenAPI 3 document of every public route.
//
//go:embed openapi.json
var OpenAPI []byte

// Options configure the aggregator's HTTP API.
type Options struct {
	// Write is the connection the registry's routes record entries over;
	// nil: they answer 503.
	Write driver.Conn
	// Conn should be read-only and time-limited (store.Options).
	Conn   driver.Conn
	Logger *slog.Logger
	// Now is the clock date presets count from; nil: time.Now.
	Now func() time.Time
	// QueryTimeout bounds a query; default 10s.
	QueryTimeout time.Duration
	// ExportTimeout bounds an export, from its query to its last byte
	// written, also for the dashboard's CSV; default 5m.
	ExportTimeout time.Duration
	// CacheTTL is how long public counters are answered from memory;
	// default 5s, negative: not cached.
	CacheTTL time.Duration
	// StaleFor is how old the last good counters may be to be answered
	// while ClickHouse fails; default 5m, at least CacheTTL.
	StaleFor time.Duration
	// CacheSize is how many credentials' counters are kept; default 10,000.
	CacheSize int
	// RefreshTimeout bounds one counter query; default 2s.
	RefreshTimeout time.Duration
	// Unfurls records link-preview crawlers' fetches of the social card;
	// nil: they are not recorded.
	Unfurls *unfurl.Recorder
}

// API is the aggregator's HTTP side: public counters and badge, the query
// API, export and the OpenAPI document.
type API struct {
	o      Options
	store  counters.Store
	engine *query.Engine
	cache  *counters.Cache // nil: not cached
	warn   *slog.Logger    // rate-limited
	cards  *cards
}

// New fills in the defaults of o and returns the API.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = query.DefaultTimeout
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = 5 * time.Second
	}
	if o.StaleFor == 0 {
		o.StaleFor = 5 * time.Minute
	}
	o.StaleFor = max(o.StaleFor, o.CacheTTL)
	if o.CacheSize <= 0 {
		o.CacheSize = 10_000
	}
	if o.RefreshTimeout <= 0 {
		o.RefreshTimeout = 2 * time.Second
	}
	a := &API{o: o, store: counters.Store{Conn: o.Conn}, engine: query.NewEngine(o.Conn, o.Now).WithExportTimeout(o.ExportTimeout),
		warn: logthrottle.New(o.Logger, 10*time.Second), cards: newCards()}
	if o.CacheTTL > 0 {
		a.cache = counters.NewCache(a.store.CredentialStats, counters.CacheOptions{
			Size: o.CacheSize, Fresh: o.CacheTTL, Stale: o.StaleFor, Timeout: o.RefreshTimeout,
		})
	}
	return a
}

// Engine is the API's query engine, for other readers of the rollups
// such as the dashboard.
func (a *API) Engine() *query.Engine { return a.engine }

// Routes registers the routes. limited wraps the public ones with the
// per-client rate limit; auth guards the query API (scope stats:read).
func (a *API) Routes(r fiber.Router, limited func(fiber.Handler) fiber.Handler, auth fiber.Handler) {
	r.Get("/api/v1/credentials/:id/stats", limited(a.credentialStats))
	// Credential ids may hold dots, so the extension is cut off by hand.
	r.Get("/badge/:file", limited(a.badge))
	r.Get("/og/:file", limited(a.ogImage))
	r.Post("/api/v1/query", auth, a.query)
	r.Get("/api/v1/export", auth, a.export)
	r.Get("/api/openapi.json", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
		c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
		return c.Send(OpenAPI)
	})
}

const badIDMessage = "id: must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'"

// Stats reads the public counters of the credential id for a request: from
// memory while they are fresh, from ClickHouse otherwise, and stale while
// ClickHouse fails. It sets the headers every answer with them carries
// (Age, Cache-Control, CORS); its errors are API errors.
func (a *API) Stats(c *fiber.Ctx, id string) (counters.Stats, error) {
	if !event.ValidID(id) {
		return counters.Stats{}, edge.Invalid(badIDMessage)
	}
	id = strings.Clone(id)
	var st counters.Stats
	var age time.Duration
	var err error
	if a.cache != nil {
		st, age, err = a.cache.Get(c.UserContext(), id)
	} else {
		ctx, cancel := context.WithTimeout(c.UserContext(), a.o.RefreshTimeout)
		defer cancel()
		st, err = a.store.CredentialStats(ctx, id)
	}
	if err != nil {
		a.warn.Warn("cannot read credential stats", "err", err)
		return counters.Stats{}, edge.Unavailable("cannot read stats right now; try again shortly")
	}
	// Age tells caches in between how old the counters are; past max-age
	// they were served stale while ClickHouse was unreachable.
	c.Set(fiber.HeaderAge, strconv.Itoa(int(age.Seconds())))
	c.Set(fiber.HeaderCacheControl, "public, max-age="+strconv.Itoa(a.maxAge()))
	c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	return st, nil
}

func (a *API) maxAge() int { return max(int(a.o.CacheTTL.Seconds()), 1) }

// Forget drops the cached counters of a credential, after an erasure.
func (a *API) Forget(id string) {
	if a.cache != nil {
		a.cache.Forget(id)
	}
}

func (a *API) credentialStats(c *fiber.Ctx) error {
	st, err := a.Stats(c, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(st)
}

const maxLabel = 64

// badge draws /badge/ID.svg; ?label= sets the left part.
func (a *API) badge(c *fiber.Ctx) error {
	id, ok := strings.CutSuffix(c.Params("file"), ".svg")
	if !ok {
		return edge.NotFound("badges are at /badge/ID.svg")
	}
	label := c.Query("label", "credential")
	if label == "" || len([]rune(label)) > maxLabel {
		return edge.Invalid("label: must be 1-64 characters")
	}
	st, err := a.Stats(c, id)
	if err != nil {
		return err
	}
	svg := renderBadge(label, badgeMessage(st))
	sum := sha256.Sum256(svg)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	// An SVG opened on its own is a document: it gets to run nothing.
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'")
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, "image/svg+xml; charset=utf-8")
	return c.Send(svg)
}

func (a *API) query(c *fiber.Ctx) error {
	q, err := query.DecodeQuery(c.Body())
	if err != nil {
		return a.queryError(err)
	}
	q.Org = auth.KeyOf(c).Organization
	ctx, cancel := context.WithTimeout(c.UserContext(), a.o.QueryTimeout)
	defer cancel()
	res, err := a.engine.Run(ctx, q)
	if err != nil {
		return a.queryError(err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(res)
}

// queryError maps an error of package query: the client's mistakes are
// 400s naming the field, a query over the time limit or an unreachable
// ClickHouse is 503, anything else is ours.
func (a *API) queryError(err error) error {
	var e *query.Error
	var ex *clickhouse.Exception
	switch {
	case errors.As(err, &e):
		return edge.Invalid(e.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ex) && ex.Code == 159:
		return edge.Unavailable("the query ran longer than the time limit; narrow its date_range or filters")
	case errors.As(err, &ex):
		a.o.Logger.Error("stats query failed", "err", err)
		return edge.ErrInternal
	}
	a.warn.Warn("stats query failed", "err", err)
	return edge.Unavailable("cannot run the query right now; try again shortly")
}

// export streams the result of ?query=JSON (the body of /api/v1/query) as
// ?format=csv (default) or ndjson. Without a limit it has every row.
func (a *API) export(c *fiber.Ctx) error {
	format := c.Query("format", "csv")
	if format != "csv" && format != "ndjson" {
		return edge.Invalid(`format: must be "csv" or "ndjson"`)
	}
	raw := c.Query("query")
	if raw == "" {
		return edge.Invalid(`query: give the query as JSON, as for POST /api/v1/query, e.g. ?query={"metrics":["views"],"dimensions":["time:day"]}`)
	}
	q, err := query.DecodeQuery([]byte(raw))
	if err != nil {
		return a.queryError(err)
	}
	q.Org = auth.KeyOf(c).Organization
	// The export outlives the handler: the request's context is not its.
	cur, err := a.engine.Export(context.Background(), q)
	if err != nil {
		return a.queryError(err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="credstats-export.`+format+`"`)
	stopped := func(err error) { a.warn.Warn("export stopped", "err", err) }
	if format == "csv" {
		export.CSV(c, cur, stopped)
	} else {
		export.NDJSON(c, cur, stopped)
	}
	return nil
}
