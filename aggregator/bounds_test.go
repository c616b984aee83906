package aggregator_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/aggregator"
	"github.com/credstats/credstats/aggregator/internal/rolluptest"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/edge"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

// TestOffsetsAreBounded: an offset past the cap is refused before any
// work, and one past the last row of a time series answers no rows
// without walking the series.
func TestOffsetsAreBounded(t *testing.T) {
	e := newEnv(t, nil)
	rolluptest.Seed(t, e.conn, 500, 11, rolluptest.Now, 20*24*time.Hour)
	token, _ := e.key(auth.StatsRead)
	for _, body := range []string{
		`{"metrics":["views"],"dimensions":["time:day"],"date_range":"all","offset":4900000000}`,
		`{"metrics":["views"],"dimensions":["time:hour","credential"],"date_range":"30d","offset":1000001}`,
		`{"metrics":["views"],"dimensions":["country"],"offset":1000001}`,
	} {
		for route, r := range map[string]response{
			"query":  e.query(token, body),
			"export": e.do("GET", "/api/v1/export?query="+url.QueryEscape(body), "", bearer(token)),
		} {
			if r.status != 400 || errorCode(r.body) != "invalid_request" || !strings.Contains(r.body, `"message":"offset:`) {
				t.Errorf("%s %s: %d %s; want 400 naming offset", route, body, r.status, r.body)
			}
		}
	}

	for _, body := range []string{
		`{"metrics":["views"],"dimensions":["time:hour","credential"],"date_range":"30d"}`,
		`{"metrics":["views"],"dimensions":["time:day","credential"],"date_range":"30d","order_by":[["views","desc"]]}`,
	} {
		page := func(body string) (rows, total int) {
			r := e.query(token, body)
			var res struct {
				Results   []json.RawMessage
				TotalRows int `json:"total_rows"`
			}
			if err := json.Unmarshal([]byte(r.body), &res); err != nil || r.status != 200 {
				t.Fatalf("%s: %d %s", body, r.status, r.body)
			}
			return len(res.Results), res.TotalRows
		}
		_, want := page(body)
		past := strings.TrimSuffix(body, "}") + `,"offset":1000000}`
		if rows, total := page(past); rows != 0 || total != want || want == 0 {
			t.Errorf("%s: %d rows of %d; want none of %d", past, rows, total, want)
		}
	}
}

// serve runs app on a local port until the test ends and returns its
// address.
func serve(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go app.Listener(ln)
	t.Cleanup(func() { app.ShutdownWithTimeout(5 * time.Second) })
	return "http://" + ln.Addr().String()
}

// oneViewEach returns a fresh database holding one view of each of n
// credentials an hour before rolluptest.Now.
func oneViewEach(t *testing.T, n int) driver.Conn {
	t.Helper()
	_, conn := chtest.New(t)
	must(t, conn.Exec(context.Background(), rolluptest.InsertEvents+`
SELECT generateUUIDv4(), toDateTime(?) - 3600, concat('c', toString(10000 + number)), '', 'view', '', 'guest', 'beacon', number,
	'', '', '', '', '', 'Chrome', 'Linux', 'desktop', ''
FROM numbers(?)`, rolluptest.Now.Unix(), n))
	rolluptest.Wait(t, conn)
	return conn
}

// serveAPI serves the aggregator's routes alone, without keys, and
// returns the address.
func serveAPI(t *testing.T, cfg fiber.Config, o aggregator.Options) string {
	t.Helper()
	o.Now = func() time.Time { return rolluptest.Now }
	cfg.ErrorHandler, cfg.DisableStartupMessage = edge.ErrorHandler(slog.New(slog.DiscardHandler)), true
	app := fiber.New(cfg)
	open := func(c *fiber.Ctx) error { return c.Next() }
	aggregator.New(o).Routes(app, func(h fiber.Handler) fiber.Handler { return h }, open)
	return serve(t, app)
}

func getExport(t *testing.T, base, format, query string) (status int, body string, err error) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/export?format=" + format + "&query=" + url.QueryEscape(query))
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestExportHasItsOwnWriteDeadline: the server's write timeout, meant for
// small answers, does not cut an export.
func TestExportHasItsOwnWriteDeadline(t *testing.T) {
	conn := oneViewEach(t, 200)
	base := serveAPI(t, fiber.Config{WriteTimeout: time.Millisecond}, aggregator.Options{Conn: conn})
	status, body, err := getExport(t, base, "csv", `{"metrics":["views"],"dimensions":["time:hour","credential"],"date_range":"30d"}`)
	lines := strings.Count(body, "\n")
	if want := 1 + 200*30*24; status != 200 || err != nil || lines != want {
		t.Errorf("%d, %d lines, then %v; want 200, %d lines, then the end", status, lines, err, want)
	}
}

// cutAfter is a ClickHouse connection whose queries fail after n rows,
// as when the server or the network fails half-way.
type cutAfter struct {
	driver.Conn
	n int
}

func (c cutAfter) Query(ctx context.Context, sql string, args ...any) (driver.Rows, error) {
	rows, err := c.Conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return &cutRows{Rows: rows, left: c.n}, nil
}

type cutRows struct {
	driver.Rows
	left int
}

func (r *cutRows) Next() bool {
	if r.left == 0 {
		return false
	}
	r.left--
	return r.Rows.Next()
}

func (r *cutRows) Err() error {
	if r.left == 0 {
		return errors.New("read: connection reset by peer")
	}
	return r.Rows.Err()
}

// TestExportThatFailsIsCut: when ClickHouse fails half-way through, the
// answer ends in a way every HTTP client notices, not as a short but
// well-formed body; NDJSON also says why in a last line.
func TestExportThatFailsIsCut(t *testing.T) {
	conn := oneViewEach(t, 300)
	base := serveAPI(t, fiber.Config{}, aggregator.Options{Conn: cutAfter{conn, 100}})
	for _, format := range []string{"csv", "ndjson"} {
		status, body, err := getExport(t, base, format, `{"metrics":["views"],"dimensions":["credential"],"date_range":"7d"}`)
		if status != 200 || strings.Count(body, "c1") != 100 || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %d, %d rows, then %v; want 200, 100 rows, then io.ErrUnexpectedEOF", format, status, strings.Count(body, "c1"), err)
		}
		if format == "ndjson" && !strings.HasSuffix(body, `{"error":{"code":"unavailable","message":"the export stopped early; try again"}}`+"\n") {
			t.Errorf("ndjson ends %q; want the error line", body[max(0, len(body)-120):])
		}
	}
}

// TestExportPastItsTimeLimitIsCut: an export that cannot finish within
// ExportTimeout (some 30 million rows in one second) is cut, although the
// server has no write timeout.
func TestExportPastItsTimeLimitIsCut(t *testing.T) {
	conn := oneViewEach(t, 300)
	base := serveAPI(t, fiber.Config{}, aggregator.Options{Conn: conn, ExportTimeout: time.Second})
	for _, format := range []string{"csv", "ndjson"} {
		status, body, err := getExport(t, base, format, `{"metrics":["views"],"dimensions":["time:hour","credential"],"date_range":["2015-01-01","2026-03-15"]}`)
		if status != 200 || body == "" || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %d, %d bytes, then %v; want 200, some rows, then io.ErrUnexpectedEOF", format, status, len(body), err)
		}
	}
}
