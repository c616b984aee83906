package aggregator

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/internal/apierr"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/logthrottle"
)

// OpenAPI is the OpenAPI 3 document of every public route.
//
//go:embed openapi.json
var OpenAPI []byte

// Options configure the aggregator's HTTP API.
type Options struct {
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
}

// API is the aggregator's HTTP side: public counters and badge, the query
// API, export and the OpenAPI document.
type API struct {
	o      Options
	store  Store
	engine *Engine
	cache  *statsCache  // nil: not cached
	warn   *slog.Logger // rate-limited
}

// New fills in the defaults of o and returns the API.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 10 * time.Second
	}
	if o.ExportTimeout <= 0 {
		o.ExportTimeout = defaultExportTimeout
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
	a := &API{o: o, store: Store{Conn: o.Conn}, engine: NewEngine(o.Conn, o.Now),
		warn: logthrottle.New(o.Logger, 10*time.Second)}
	a.engine.exportTimeout = o.ExportTimeout
	if o.CacheTTL > 0 {
		a.cache = newStatsCache(a.store.CredentialStats, o.CacheSize, o.CacheTTL, o.StaleFor, o.RefreshTimeout)
	}
	return a
}

// Engine is the API's query engine, for other readers of the rollups
// such as the dashboard.
func (a *API) Engine() *Engine { return a.engine }

// Routes registers the routes. limited wraps the public ones with the
// per-client rate limit; auth guards the query API (scope stats:read).
func (a *API) Routes(r fiber.Router, limited func(fiber.Handler) fiber.Handler, auth fiber.Handler) {
	r.Get("/api/v1/credentials/:id/stats", limited(a.credentialStats))
	r.Get("/awards/:id/stats", apierr.BadgesNinja(limited(a.awardStats)))
	// Credential ids may hold dots, so the extension is cut off by hand.
	r.Get("/badge/:file", limited(a.badge))
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

func (a *API) stats(c *fiber.Ctx, id string) (Stats, error) {
	if !event.ValidID(id) {
		return Stats{}, apierr.Invalid(badIDMessage)
	}
	id = strings.Clone(id)
	var st Stats
	var age time.Duration
	var err error
	if a.cache != nil {
		st, age, err = a.cache.get(c.UserContext(), id)
	} else {
		ctx, cancel := context.WithTimeout(c.UserContext(), a.o.RefreshTimeout)
		defer cancel()
		st, err = a.store.CredentialStats(ctx, id)
	}
	if err != nil {
		a.warn.Warn("cannot read credential stats", "err", err)
		return Stats{}, apierr.Unavailable("cannot read stats right now; try again shortly")
	}
	// Age tells caches in between how old the counters are; past max-age
	// they were served stale while ClickHouse was unreachable.
	c.Set(fiber.HeaderAge, strconv.Itoa(int(age.Seconds())))
	c.Set(fiber.HeaderCacheControl, "public, max-age="+strconv.Itoa(a.maxAge()))
	c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	return st, nil
}

func (a *API) maxAge() int { return max(int(a.o.CacheTTL.Seconds()), 1) }

func (a *API) credentialStats(c *fiber.Ctx) error {
	st, err := a.stats(c, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(st)
}

// awardStats answers in the badges.ninja API's envelope.
func (a *API) awardStats(c *fiber.Ctx) error {
	st, err := a.stats(c, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{
		"statusCode": fiber.StatusOK,
		"info": fiber.Map{"stats": fiber.Map{
			"views":         st.Views,
			"shares":        st.Shares,
			"downloads":     st.Downloads,
			"linkedin_adds": st.LinkedInAdds,
		}},
	})
}

const maxLabel = 64

// badge draws /badge/ID.svg; ?label= sets the left part.
func (a *API) badge(c *fiber.Ctx) error {
	id, ok := strings.CutSuffix(c.Params("file"), ".svg")
	if !ok {
		return apierr.NotFound("badges are at /badge/ID.svg")
	}
	label := c.Query("label", "credential")
	if label == "" || len([]rune(label)) > maxLabel {
		return apierr.Invalid("label: must be 1-64 characters")
	}
	st, err := a.stats(c, id)
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
	q, err := DecodeQuery(c.Body())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), a.o.QueryTimeout)
	defer cancel()
	res, err := a.engine.Run(ctx, q)
	if err != nil {
		return a.queryError(err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(res)
}

// queryError maps an engine error: the client's mistakes keep their
// message, a query over the time limit or an unreachable ClickHouse is 503,
// anything else is ours.
func (a *API) queryError(err error) error {
	var e *apierr.Error
	var ex *clickhouse.Exception
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ex) && ex.Code == 159:
		return apierr.Unavailable("the query ran longer than the time limit; narrow its date_range or filters")
	case errors.As(err, &ex):
		a.o.Logger.Error("stats query failed", "err", err)
		return apierr.ErrInternal
	}
	a.warn.Warn("stats query failed", "err", err)
	return apierr.Unavailable("cannot run the query right now; try again shortly")
}

// export streams the result of ?query=JSON (the body of /api/v1/query) as
// ?format=csv (default) or ndjson. Without a limit it has every row.
func (a *API) export(c *fiber.Ctx) error {
	format := c.Query("format", "csv")
	if format != "csv" && format != "ndjson" {
		return apierr.Invalid(`format: must be "csv" or "ndjson"`)
	}
	raw := c.Query("query")
	if raw == "" {
		return apierr.Invalid(`query: give the query as JSON, as for POST /api/v1/query, e.g. ?query={"metrics":["views"],"dimensions":["time:day"]}`)
	}
	q, err := DecodeQuery([]byte(raw))
	if err != nil {
		return err
	}
	// The export outlives the handler: the request's context is not its.
	cur, err := a.engine.Export(context.Background(), q)
	if err != nil {
		return a.queryError(err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="credstats-export.`+format+`"`)
	stopped := func(err error) { a.warn.Warn("export stopped", "err", err) }
	if format == "csv" {
		StreamCSV(c, cur, stopped)
		return nil
	}
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	stream(c, cur, writeNDJSON, stopped)
	return nil
}

// StreamCSV answers c with the rows of an export as CSV, as
// /api/v1/export does, and closes cur; stopped hears why an export ended
// early.
func StreamCSV(c *fiber.Ctx, cur *Cursor, stopped func(error)) {
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	stream(c, cur, writeCSV, stopped)
}

// stream answers c with what write makes of cur's rows, as the client
// reads them, after the handler has returned. It has until the deadline
// of cur's context, for writing too: the server's write timeout is meant
// for small answers. An export that ends early, for any reason, is not
// ended cleanly: the server closes the connection before the last chunk
// of the chunked body, so that every client sees a cut answer rather than
// a short one.
func stream(c *fiber.Ctx, cur *Cursor, write func(*bufio.Writer, *Cursor) error, stopped func(error)) {
	pr, pw := io.Pipe()
	body := &exportBody{PipeReader: pr, conn: c.Context().Conn(), cancel: cur.cancel}
	body.deadline, _ = cur.ctx.Deadline()
	go func() {
		defer cur.Close()
		w := bufio.NewWriterSize(pw, 32<<10)
		err := write(w, cur)
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if err != nil {
			stopped(err)
		}
		// The server reads an error other than io.EOF as a failed body.
		pw.CloseWithError(err)
	}()
	// The deadline set here must not outlive the answer.
	c.Context().SetConnectionClose()
	c.Context().SetBodyStream(body, -1)
}

// exportBody is what the server reads an export from.
type exportBody struct {
	*io.PipeReader
	conn     net.Conn
	deadline time.Time
	cancel   context.CancelFunc
	started  bool
}

func (b *exportBody) Read(p []byte) (int, error) {
	if !b.started && !b.deadline.IsZero() {
		// The server sets its write deadline after the handler has
		// returned, just before it reads the body for the first time.
		b.conn.SetWriteDeadline(b.deadline)
	}
	b.started = true
	return b.PipeReader.Read(p)
}

// Close is called by the server once the answer is written or has failed,
// the client gone among other reasons: the query stops with it.
func (b *exportBody) Close() error {
	if b.cancel != nil {
		b.cancel()
	}
	return b.PipeReader.Close()
}

func columnNames(q Query) []string { return append(append([]string{}, q.Dimensions...), q.Metrics...) }

func formatMetric(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// csvCell keeps a value that came from a client from being read as a
// formula by a spreadsheet, as OWASP advises: one starting with = + - @,
// a tab or a carriage return gets a leading single quote.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// writeCSV writes a header row and the rows; dimension values are made
// safe for spreadsheets, metrics are ours and left as numbers.
func writeCSV(w *bufio.Writer, cur *Cursor) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(columnNames(cur.Query())); err != nil {
		return err
	}
	rec := make([]string, 0, 16)
	for cur.Next() {
		r := cur.Row()
		rec = rec[:0]
		for _, d := range r.Dimensions {
			rec = append(rec, csvCell(d))
		}
		for _, m := range r.Metrics {
			rec = append(rec, formatMetric(m))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cur.Err(); err != nil {
		return err
	}
	return cw.Error()
}

// writeNDJSON writes one object per row, keyed by dimension and metric
// names in the query's order; a failure half-way ends with an error line.
func writeNDJSON(w *bufio.Writer, cur *Cursor) error {
	q := cur.Query()
	keys := make([][]byte, 0, len(q.Dimensions)+len(q.Metrics))
	for _, n := range columnNames(q) {
		k, _ := json.Marshal(n)
		keys = append(keys, append(k, ':'))
	}
	var line []byte
	for cur.Next() {
		r := cur.Row()
		line = append(line[:0], '{')
		for i, d := range r.Dimensions {
			if i > 0 {
				line = append(line, ',')
			}
			v, _ := json.Marshal(d)
			line = append(append(line, keys[i]...), v...)
		}
		for i, m := range r.Metrics {
			if i > 0 || len(r.Dimensions) > 0 {
				line = append(line, ',')
			}
			line = append(append(line, keys[len(r.Dimensions)+i]...), formatMetric(m)...)
		}
		line = append(line, '}', '\n')
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		b, _ := json.Marshal(apierr.Envelope(apierr.Unavailable("the export stopped early; try again")))
		w.Write(append(b, '\n'))
		return err
	}
	return nil
}
