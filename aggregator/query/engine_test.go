package query

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/aggregator/internal/rolluptest"
	"github.com/credstats/credstats/internal/testutil/chtest"
	"github.com/credstats/credstats/schema"
)

// rawMetrics computes each metric straight from the events table.
var rawMetrics = map[string]string{
	"events":         "toFloat64(count())",
	"views":          "toFloat64(countIf(type = 'view'))",
	"unique_viewers": "toFloat64(uniqIf(visitor, type = 'view' AND visitor != 0))",
	"shares":         "toFloat64(countIf(type = 'share'))",
	"downloads":      "toFloat64(countIf(type = 'download'))",
	"verifications":  "toFloat64(countIf(type = 'verify'))",
	"linkedin_adds":  "toFloat64(countIf(type = 'linkedin_add'))",
	"link_copies":    "toFloat64(countIf(type = 'link_copy'))",
	"share_rate":     "if(countIf(type = 'view') = 0, 0, countIf(type = 'share') / countIf(type = 'view'))",
	// A share stands under its own network (package arrival), as ingest
	// and the test data store it.
	"views_from_shares":     "toFloat64(countIf(type = 'view' AND arrived_from IN ('linkedin', 'twitter', 'facebook', 'messenger', 'whatsapp', 'pinterest', 'telegram', 'weibo', 'email', 'other')))",
	"views_per_share":       "if(countIf(type = 'share') = 0, 0, countIf(type = 'view' AND arrived_from IN ('linkedin', 'twitter', 'facebook', 'messenger', 'whatsapp', 'pinterest', 'telegram', 'weibo', 'email', 'other')) / countIf(type = 'share'))",
	"recipient_share_reach": "toFloat64(countIf(type = 'view' AND shared_by = 'recipient'))",
}

var rawColumns = map[string]string{
	"type": "toString(type)", "network": "toString(network)", "actor": "toString(actor)", "credential": "credential",
	"group": "group_id", "referrer": "referrer_host", "country": "country", "browser": "browser", "os": "os",
	"device": "toString(device)", "source": "toString(source)",
	"arrived_from": "toString(arrived_from)", "shared_by": "toString(shared_by)",
}

// raw answers q (a custom date range) from the events table, bots left
// out, as rows keyed by their dimension values.
func raw(t *testing.T, conn driver.Conn, q Query) map[string][]float64 {
	t.Helper()
	loc, err := time.LoadLocation(cmpOr(q.Timezone, "UTC"))
	must(t, err)
	var sel, group []string
	var args []any
	timeAt, timeDim := -1, ""
	for i, d := range q.Dimensions {
		expr := rawColumns[d]
		switch d {
		case "time:hour":
			expr = "toInt64(toStartOfHour(time, ?))"
		case "time:day":
			expr = "toInt64(toDate(time, ?))"
		case "time:week":
			expr = "toInt64(toMonday(toDate(time, ?)))"
		case "time:month":
			expr = "toInt64(toStartOfMonth(toDate(time, ?)))"
		}
		if strings.HasPrefix(d, "time:") {
			args = append(args, loc.String())
			timeAt, timeDim = i, d
		}
		sel = append(sel, expr+fmt.Sprintf(" AS d%d", i))
		group = append(group, fmt.Sprintf("d%d", i))
	}
	for _, m := range q.Metrics {
		sel = append(sel, rawMetrics[m])
	}
	from := time.Date(q.DateRange.From.Year(), q.DateRange.From.Month(), q.DateRange.From.Day(), 0, 0, 0, 0, loc)
	to := time.Date(q.DateRange.To.Year(), q.DateRange.To.Month(), q.DateRange.To.Day()+1, 0, 0, 0, 0, loc)
	where := []string{"bot_reason = ''", "time >= toDateTime(?)", "time < toDateTime(?)"}
	args = append(args, from.Unix(), to.Unix())
	for _, f := range q.Filters {
		col := rawColumns[f.Dimension]
		var alts []string
		for _, v := range f.Values {
			switch f.Op {
			case "contains":
				alts = append(alts, "position("+col+", ?) > 0")
			default:
				alts = append(alts, col+" = ?")
			}
			args = append(args, v)
		}
		cond := "(" + strings.Join(alts, " OR ") + ")"
		if f.Op == "is_not" {
			cond = "NOT " + cond
		}
		where = append(where, cond)
	}
	sql := "SELECT " + strings.Join(sel, ", ") + " FROM events WHERE " + strings.Join(where, " AND ")
	if len(group) > 0 {
		sql += " GROUP BY " + strings.Join(group, ", ")
	}
	rows, err := conn.Query(context.Background(), sql, args...)
	must(t, err)
	defer rows.Close()
	out := map[string][]float64{}
	for rows.Next() {
		dims := make([]string, len(q.Dimensions))
		var key int64
		ms := make([]float64, len(q.Metrics))
		var dest []any
		for i := range dims {
			if i == timeAt {
				dest = append(dest, &key)
			} else {
				dest = append(dest, &dims[i])
			}
		}
		for i := range ms {
			dest = append(dest, &ms[i])
		}
		must(t, rows.Scan(dest...))
		if timeAt >= 0 {
			if timeDim == "time:hour" {
				dims[timeAt] = time.Unix(key, 0).In(loc).Format(time.RFC3339)
			} else {
				dims[timeAt] = time.Unix(key*86400, 0).UTC().Format(time.DateOnly)
			}
		}
		if len(dims) > 0 && !slices.ContainsFunc(ms, func(m float64) bool { return m != 0 }) {
			continue // a breakdown has no row of zeros
		}
		out[strings.Join(dims, "|")] = ms
	}
	must(t, rows.Err())
	return out
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// sameAsRaw runs q and checks every row against the events table: each raw
// row is answered with the same metrics, and any other row is an empty
// step of a time series.
func sameAsRaw(t *testing.T, e *Engine, conn driver.Conn, q Query) Result {
	t.Helper()
	q.Limit = 10_000
	res, err := e.Run(context.Background(), q)
	if err != nil {
		t.Fatalf("%+v: %v", q, err)
	}
	want := raw(t, conn, q)
	got := map[string][]float64{}
	for _, r := range res.Results {
		k := strings.Join(r.Dimensions, "|")
		if _, dup := got[k]; dup {
			t.Errorf("%v %v: row %q twice", q.Dimensions, q.Filters, k)
		}
		got[k] = r.Metrics
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || !slices.Equal(g, w) {
			t.Errorf("dims %v filters %v tz %s: row %q is %v, raw events say %v", q.Dimensions, q.Filters, q.Timezone, k, g, w)
		}
	}
	series := slices.ContainsFunc(q.Dimensions, func(d string) bool { return strings.HasPrefix(d, "time:") })
	for k, g := range got {
		if _, ok := want[k]; !ok && (!series || slices.ContainsFunc(g, func(v float64) bool { return v != 0 })) {
			t.Errorf("dims %v filters %v: row %q %v is not in the raw events", q.Dimensions, q.Filters, k, g)
		}
	}
	if res.TotalRows != len(res.Results) {
		t.Errorf("dims %v: total_rows %d, %d rows", q.Dimensions, res.TotalRows, len(res.Results))
	}
	return res
}

func TestRollupsMatchRawEvents(t *testing.T) {
	_, conn := chtest.New(t)
	if n := rolluptest.Seed(t, conn, 6000, 1, rolluptest.Now, 75*24*time.Hour); n < 5000 {
		t.Fatalf("only %d people's events", n)
	}
	e := NewEngine(conn, func() time.Time { return rolluptest.Now })
	span := DateRange{From: day("2026-01-10"), To: day("2026-03-15")}
	all := everywhere()

	// Totals, and every dimension on its own, in UTC and in zones that the
	// daily rollups cannot serve.
	for _, tz := range []string{"UTC", "Asia/Kathmandu", "America/New_York"} {
		sameAsRaw(t, e, conn, Query{Metrics: all, DateRange: span, Timezone: tz})
		for _, d := range dimensions {
			if isRegistryDimension(d) {
				continue // TestRegistryDimensionsMatchRawEvents
			}
			res := sameAsRaw(t, e, conn, Query{Metrics: all, Dimensions: []string{d}, DateRange: span, Timezone: tz})
			if len(res.Results) < 2 {
				t.Errorf("%s in %s: %d rows; the test data should have more", d, tz, len(res.Results))
			}
		}
	}
	// Time series have every step: 65 days; 65*24 hours, one less in New
	// York, where the clock went forward on 8 March; weeks from Monday 5
	// January to Monday 9 March; January to March.
	for _, c := range []struct {
		dim, tz string
		steps   int
	}{
		{"time:day", "UTC", 65}, {"time:hour", "UTC", 65 * 24}, {"time:hour", "America/New_York", 65*24 - 1},
		{"time:hour", "Asia/Kathmandu", 65 * 24}, {"time:week", "Europe/Berlin", 10}, {"time:month", "Asia/Kolkata", 3},
	} {
		res, err := e.Run(context.Background(), Query{Metrics: []string{"views"}, Dimensions: []string{c.dim}, DateRange: span, Timezone: c.tz, Limit: 10_000})
		must(t, err)
		if len(res.Results) != c.steps || res.TotalRows != c.steps {
			t.Errorf("%s in %s: %d steps (total %d), want %d", c.dim, c.tz, len(res.Results), res.TotalRows, c.steps)
		}
	}

	// "all" runs from the month of the first event to this month.
	res, err := e.Run(context.Background(), Query{Metrics: []string{"events"}, Dimensions: []string{"time:month"}, DateRange: DateRange{Preset: "all"}, Timezone: "America/New_York"})
	must(t, err)
	var first time.Time
	must(t, conn.QueryRow(context.Background(), "SELECT min(time) FROM events WHERE bot_reason = ''").Scan(&first))
	if len(res.Results) != 4 || res.Results[0].Dimensions[0] != "2025-12-01" || res.Results[3].Dimensions[0] != "2026-03-01" {
		t.Errorf("all by month from %v: %v", first, res.Results)
	}
	total := 0.0
	for _, r := range res.Results {
		total += r.Metrics[0]
	}
	if want := raw(t, conn, Query{Metrics: []string{"events"}, DateRange: DateRange{From: day("2000-01-01"), To: day("2026-03-15")}})[""]; total != want[0] {
		t.Errorf("all by month sums to %v events, want %v", total, want[0])
	}

	// Each dimension filtered by each operator, alone and with others.
	firstValue := map[string]string{"type": "share", "network": "linkedin", "actor": "recipient", "credential": "cred.8", "group": "prog-b",
		"referrer": "t.co", "country": "IN", "browser": "Safari", "os": "iOS", "device": "mobile", "source": "pixel"}
	contains := map[string]string{"type": "link", "network": "e", "actor": "ipi", "credential": "-1", "group": "prog",
		"referrer": "google", "country": "E", "browser": "fox", "os": "dow", "device": "top", "source": "x"}
	for d, v := range firstValue {
		for _, f := range []Filter{{Op: "is", Dimension: d, Values: []string{v}}, {Op: "is_not", Dimension: d, Values: []string{v}}, {Op: "contains", Dimension: d, Values: []string{contains[d], "zzz"}}} {
			sameAsRaw(t, e, conn, Query{Metrics: all, Filters: []Filter{f}, DateRange: span})
			sameAsRaw(t, e, conn, Query{Metrics: all, Dimensions: []string{"actor", "time:week"}, Filters: []Filter{f}, DateRange: span, Timezone: "Asia/Kolkata"})
		}
	}
	// Combinations that need the wider rollups.
	for _, q := range []Query{
		{Metrics: all, Dimensions: []string{"credential", "country"}, Filters: []Filter{{Op: "is", Dimension: "type", Values: []string{"view", "share"}}}},
		{Metrics: all, Dimensions: []string{"time:day", "network"}, Filters: []Filter{{Op: "is", Dimension: "actor", Values: []string{"guest"}}}, Timezone: "America/New_York"},
		{Metrics: all, Dimensions: []string{"group", "referrer", "device"}, Filters: []Filter{{Op: "is_not", Dimension: "group", Values: []string{""}}}},
		{Metrics: all, Dimensions: []string{"browser", "os", "source"}, Filters: []Filter{{Op: "is", Dimension: "credential", Values: []string{"cred-1", "cred-2"}}}},
		{Metrics: all, Dimensions: []string{"time:hour", "credential"}, Filters: []Filter{{Op: "is", Dimension: "credential", Values: []string{"cred:9"}}}, Timezone: "Asia/Kathmandu"},
		{Metrics: all, Dimensions: []string{"type", "network", "actor", "credential", "group", "referrer", "country", "browser", "os", "device", "source"}},
		// Values are bound, whatever they hold.
		{Metrics: all, Dimensions: []string{"referrer"}, Filters: []Filter{{Op: "is_not", Dimension: "credential", Values: []string{"?", "'", `\`, "') OR 1=1 --"}},
			{Op: "contains", Dimension: "referrer", Values: []string{"?", "co", `\'`}}}},
	} {
		q.DateRange = span
		sameAsRaw(t, e, conn, q)
	}
}

// TestBreakdownsHaveNoRowsOfZeros: shares by network have no row for the
// network "" that only views have, in a ranking or a series.
func TestBreakdownsHaveNoRowsOfZeros(t *testing.T) {
	_, conn := chtest.New(t)
	rolluptest.Seed(t, conn, 500, 3, rolluptest.Now, 10*24*time.Hour)
	e := NewEngine(conn, func() time.Time { return rolluptest.Now })
	for _, q := range []Query{
		{Metrics: []string{"shares"}, Dimensions: []string{"network"}},
		{Metrics: []string{"shares"}, Dimensions: []string{"time:day", "network"}},
	} {
		res, err := e.Run(context.Background(), q)
		must(t, err)
		networks := map[string]bool{}
		for _, r := range res.Results {
			networks[r.Dimensions[len(r.Dimensions)-1]] = true
		}
		if networks[""] || len(networks) < 3 {
			t.Errorf("%v: networks %v; want several, and not \"\"", q.Dimensions, networks)
		}
	}
}

func TestExportPagesLikeRun(t *testing.T) {
	_, conn := chtest.New(t)
	rolluptest.Seed(t, conn, 2000, 8, rolluptest.Now, 40*24*time.Hour)
	e := NewEngine(conn, func() time.Time { return rolluptest.Now })
	ctx := context.Background()
	for _, q := range []Query{
		{Metrics: []string{"views", "shares"}, Dimensions: []string{"credential", "country"}},
		{Metrics: []string{"views"}, Dimensions: []string{"time:day", "network"}, Timezone: "Asia/Kolkata"},
		{Metrics: []string{"unique_viewers"}, Dimensions: []string{"time:week", "actor"}, OrderBy: []Order{{Field: "actor", Desc: true}, {Field: "unique_viewers", Desc: true}}},
	} {
		q.Limit = 10_000
		all, err := e.Run(ctx, q)
		must(t, err)
		for _, w := range []struct{ limit, offset int }{{0, 0}, {0, 7}, {5, 3}, {0, len(all.Results) + 1}} {
			q.Limit, q.Offset = w.limit, w.offset
			cur, err := e.Export(ctx, q)
			must(t, err)
			var got []Row
			for cur.Next() {
				got = append(got, cur.Row())
			}
			must(t, cur.Err())
			must(t, cur.Close())
			want := all.Results[min(w.offset, len(all.Results)):]
			if w.limit > 0 {
				want = want[:min(w.limit, len(want))]
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%v limit %d offset %d: export\n%v\nwant\n%v", q.Dimensions, w.limit, w.offset, got, want)
			}
		}
	}
}

func TestBackfillOnMigrate(t *testing.T) {
	// Events stored before the rollups existed are counted once they do:
	// drop the rollups, step the schema back, and migrate again.
	_, conn := chtest.New(t)
	rolluptest.Seed(t, conn, 500, 2, rolluptest.Now, 20*24*time.Hour)
	ctx := context.Background()
	before, err := NewEngine(conn, func() time.Time { return rolluptest.Now }).Run(ctx, Query{Metrics: everywhere(), Dimensions: []string{"credential", "country"}, DateRange: DateRange{Preset: "30d"}})
	must(t, err)
	for _, table := range []string{"totals_daily", "totals_15m", "group_daily", "group_15m", "traffic_daily", "traffic_15m", "credential_traffic_15m"} {
		must(t, conn.Exec(ctx, "DROP TABLE "+table+"_mv"))
		must(t, conn.Exec(ctx, "DROP TABLE "+table))
	}
	// The runner applies every migration it has no clean record of.
	must(t, conn.Exec(ctx, "ALTER TABLE schema_migrations DELETE WHERE version IN (4, 5, 6)"))
	chtest.WaitMutations(t, conn)
	migrate(t, conn)
	rolluptest.Wait(t, conn)
	after, err := NewEngine(conn, func() time.Time { return rolluptest.Now }).Run(ctx, Query{Metrics: everywhere(), Dimensions: []string{"credential", "country"}, DateRange: DateRange{Preset: "30d"}})
	must(t, err)
	if len(after.Results) == 0 || fmt.Sprint(before.Results) != fmt.Sprint(after.Results) {
		t.Errorf("after the backfill:\n%v\nbefore:\n%v", after.Results, before.Results)
	}
	// Migrating again fills nothing twice.
	migrate(t, conn)
	rolluptest.Wait(t, conn)
}

// TestExportStopsWithItsContext: the empty steps of a time series are
// made up in Go, past the last row from ClickHouse; they stop as soon as
// the export's context ends.
func TestExportStopsWithItsContext(t *testing.T) {
	_, conn := chtest.New(t)
	engine := NewEngine(conn, func() time.Time { return rolluptest.Now })
	q := Query{
		Metrics: []string{"views"}, Dimensions: []string{"time:hour"},
		DateRange: DateRange{From: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2010, 12, 31, 0, 0, 0, 0, time.UTC)},
	}
	const steps = 87_648

	ctx, cancel := context.WithCancel(context.Background())
	cur, err := engine.Export(ctx, q)
	must(t, err)
	defer cur.Close()
	n := 0
	for cur.Next() {
		if n++; n == 10 {
			cancel()
		}
	}
	if !errors.Is(cur.Err(), context.Canceled) || n >= steps {
		t.Errorf("cancelled after 10 of %d rows: read %d, error %v; want it stopped with context.Canceled", steps, n, cur.Err())
	}

	// Skipping an offset honours the context as reading does.
	q.Offset = steps - 1
	ctx, cancel = context.WithCancel(context.Background())
	cur, err = engine.Export(ctx, q)
	must(t, err)
	defer cur.Close()
	cancel()
	if cur.Next() || !errors.Is(cur.Err(), context.Canceled) {
		t.Errorf("offset %d after cancel: error %v; want context.Canceled", q.Offset, cur.Err())
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func migrate(t testing.TB, conn driver.Conn) {
	t.Helper()
	if _, _, err := schema.Migrate(context.Background(), conn, schema.Options{}); err != nil {
		t.Fatal(err)
	}
}
