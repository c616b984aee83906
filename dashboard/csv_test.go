package dashboard_test

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/dashboard"
	"github.com/credstats/credstats/internal/auth"
)

// TestExportCSVHoldsNoFormulas: group and referrer values that start
// like a spreadsheet formula are quoted in the dashboard's CSV, as in the
// export API's.
func TestExportCSVHoldsNoFormulas(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	ctx := context.Background()
	formulas := map[string]string{"=cmd.example": "'=cmd.example", "-2+3": "'-2+3", "+1": "'+1", "@SUM(1)": "'@SUM(1)", "\tx": "'\tx"}
	b, err := e.conn.PrepareBatch(ctx, `INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
	url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)`)
	if err != nil {
		t.Fatal(err)
	}
	for v := range formulas {
		if err := b.Append(uuid.New(), time.Now().Add(-2*time.Hour), "c9", v, "view", "", "guest", "beacon", uint64(1),
			"", "", v, "", "DE", "Chrome", "Linux", "desktop", ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	waitForEvents(t, e, seeded+len(formulas))
	token, _, err := e.keys.Create(ctx, "marketing", []string{auth.Dashboard})
	if err != nil {
		t.Fatal(err)
	}
	cookie := strings.Split(e.signIn(token).header.Get("Set-Cookie"), ";")[0]

	for _, section := range []string{"groups", "referrers"} {
		r := e.get("/dashboard/export.csv?section="+section+"&range=all", cookie)
		recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
		if r.status != 200 || err != nil || len(recs) < 1+len(formulas) {
			t.Fatalf("%s: %d, %d records, %v:\n%s", section, r.status, len(recs), err, r.body)
		}
		seen := 0
		for _, rec := range recs[1:] {
			for raw, cell := range formulas {
				if rec[0] == raw {
					t.Errorf("%s: %q is exported as it is", section, raw)
				}
				if rec[0] == cell {
					seen++
				}
			}
			for _, m := range rec[1:] {
				if _, err := strconv.ParseFloat(m, 64); err != nil {
					t.Errorf("%s row %q: metric %q is not a number", section, rec, m)
				}
			}
		}
		if seen != len(formulas) {
			t.Errorf("%s: %d of the %d values quoted:\n%s", section, seen, len(formulas), r.body)
		}
	}
}

// waitForEvents waits until the rollups count n events.
func waitForEvents(t *testing.T, e *env, n int) {
	t.Helper()
	engine := query.NewEngine(e.conn, time.Now)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := engine.Run(context.Background(), query.Query{Metrics: []string{"events"}, DateRange: query.DateRange{Preset: "all"}})
		if err == nil && len(r.Results) == 1 && r.Results[0].Metrics[0] == float64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollups do not count %d events: %+v, %v", n, r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopping is the engine with every export's context ended as soon as
// its query has started, as when the export's time limit passes.
type stopping struct{ *query.Engine }

func (s stopping) Export(ctx context.Context, q query.Query) (*query.Cursor, error) {
	ctx, cancel := context.WithCancel(ctx)
	cur, err := s.Engine.Export(ctx, q)
	cancel()
	return cur, err
}

// TestExportCSVThatFailsIsCut: a CSV export that stops early ends in a
// way every HTTP client notices, not as a short but well-formed file.
func TestExportCSVThatFailsIsCut(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	secret := []byte(strings.Repeat("k", 32))
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	dashboard.New(dashboard.Options{Engine: stopping{query.NewEngine(e.conn, time.Now)}, Keys: e.keys, Conn: e.conn, Secret: secret, CacheTTL: -1}).Routes(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { app.ShutdownWithTimeout(5 * time.Second) })
	_, token, err := auth.NewLinks(e.conn, secret, 0).Create(context.Background(), "", auth.Scope{Kind: auth.ScopeGroup, Value: "g0"})
	if err != nil {
		t.Fatal(err)
	}

	for _, section := range []string{"trend", "credentials"} {
		resp, err := http.Get("http://" + ln.Addr().String() + "/dashboard/s/" + token + "/export.csv?section=" + section + "&range=all")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %d %q, then %v; want 200, then io.ErrUnexpectedEOF", section, resp.StatusCode, body, err)
		}
	}
}
