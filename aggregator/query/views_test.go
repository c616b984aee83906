package query

import (
	"context"
	"testing"
	"time"

	"github.com/credstats/credstats/aggregator/internal/rolluptest"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

// viewsQueries are the queries the views-only rollups answer (UTC, whole
// days), and some they must leave to the others. The test data has the
// groups prog-c and "" only.
func viewsQueries() (served, left []Query) {
	span := DateRange{From: day("2026-01-10"), To: day("2026-03-15")}
	for _, ms := range [][]string{{"views", "unique_viewers"}, {"unique_viewers"}, {"views"}} {
		for _, dims := range [][]string{nil, {"time:day"}, {"time:week"}, {"time:month"}, {"group"}, {"time:day", "group"}} {
			served = append(served, Query{Metrics: ms, Dimensions: dims, DateRange: span})
			for _, f := range []Filter{{Op: "is", Dimension: "group", Values: []string{"prog-c"}}, {Op: "is_not", Dimension: "group", Values: []string{"prog-a", ""}}, {Op: "contains", Dimension: "group", Values: []string{"c"}}} {
				served = append(served, Query{Metrics: ms, Dimensions: dims, Filters: []Filter{f}, DateRange: span})
			}
		}
	}
	left = []Query{
		{Metrics: []string{"views", "shares"}, Dimensions: []string{"time:day"}, DateRange: span},
		{Metrics: []string{"unique_viewers"}, Dimensions: []string{"type"}, DateRange: span},
		{Metrics: []string{"views"}, Filters: []Filter{{Op: "is", Dimension: "type", Values: []string{"view"}}}, DateRange: span},
		{Metrics: []string{"unique_viewers"}, Dimensions: []string{"actor"}, DateRange: span},
		{Metrics: []string{"unique_viewers"}, Dimensions: []string{"time:day"}, DateRange: span, Timezone: "Europe/Berlin"},
	}
	return served, left
}

// TestViewsRollupsMatchRawEvents: the views-only rollups answer the
// queries of views and unique viewers as the raw events do, and are not
// chosen for the queries they cannot answer.
func TestViewsRollupsMatchRawEvents(t *testing.T) {
	_, conn := chtest.New(t)
	rolluptest.Seed(t, conn, 6000, 3, rolluptest.Now, 75*24*time.Hour)
	e := NewEngine(conn, func() time.Time { return rolluptest.Now })
	checkViews(t, e)
}

func checkViews(t *testing.T, e *Engine) {
	t.Helper()
	served, left := viewsQueries()
	for _, q := range served {
		p, err := e.plan(context.Background(), q, false)
		must(t, err)
		if !p.table.ViewsOnly {
			t.Errorf("%v by %v where %v: read from %s, want a views-only rollup", q.Metrics, q.Dimensions, q.Filters, p.table.Name)
		}
		res := sameAsRaw(t, e, e.conn, q)
		if len(res.Results) == 0 {
			t.Errorf("%v by %v where %v: no rows; the test data should have some", q.Metrics, q.Dimensions, q.Filters)
		}
	}
	for _, q := range left {
		p, err := e.plan(context.Background(), q, false)
		must(t, err)
		if p.table.ViewsOnly {
			t.Errorf("%v by %v where %v in %q: read from %s, which holds only views", q.Metrics, q.Dimensions, q.Filters, q.Timezone, p.table.Name)
		}
		sameAsRaw(t, e, e.conn, q)
	}
}

// TestViewsRollupsMigrateStoredEvents: migration 010 fills the views-only
// rollups from the events stored before it, their views keep them current
// after it, and migrating again fills nothing twice.
func TestViewsRollupsMigrateStoredEvents(t *testing.T) {
	_, conn := chtest.New(t)
	ctx := context.Background()
	// A database as it was before 010.
	for _, table := range []string{"views_daily", "group_views_daily"} {
		must(t, conn.Exec(ctx, "DROP TABLE "+table+"_mv"))
		must(t, conn.Exec(ctx, "DROP TABLE "+table))
	}
	must(t, conn.Exec(ctx, "ALTER TABLE schema_migrations DELETE WHERE version = 10"))
	chtest.WaitMutations(t, conn)
	rolluptest.Seed(t, conn, 3000, 4, rolluptest.Now, 75*24*time.Hour)

	migrate(t, conn)
	rolluptest.Wait(t, conn)
	e := NewEngine(conn, func() time.Time { return rolluptest.Now })
	checkViews(t, e)

	// Events stored after the migration reach the rollups through their
	// views; a second run of the migration adds nothing.
	rolluptest.Seed(t, conn, 3000, 5, rolluptest.Now, 75*24*time.Hour)
	migrate(t, conn)
	rolluptest.Wait(t, conn)
	checkViews(t, e)
	var rows, views uint64
	must(t, conn.QueryRow(ctx, "SELECT count(), countIf(type = 'view') FROM views_daily").Scan(&rows, &views))
	if rows == 0 || rows != views {
		t.Errorf("views_daily holds %d rows, %d of them views", rows, views)
	}
}

// TestADailySeriesIsTheSameMergedOrNot: a daily series of views and
// unique viewers is read from the views-only rollups row by row, each
// stored day's state finalized as it is, and a day stored as several rows
// merged; it answers as the raw events do either way.
func TestADailySeriesIsTheSameMergedOrNot(t *testing.T) {
	_, conn := chtest.New(t)
	ctx := context.Background()
	rolluptest.Seed(t, conn, 3000, 1, rolluptest.Now, 20*24*time.Hour)
	// A second insert: the last ten days have a second row until merged.
	rolluptest.Seed(t, conn, 1500, 2, rolluptest.Now, 10*24*time.Hour)
	e := NewEngine(conn, func() time.Time { return rolluptest.Now })
	span := DateRange{From: day("2026-02-18"), To: day("2026-03-15")}
	queries := []Query{
		{Metrics: []string{"views", "unique_viewers"}, Dimensions: []string{"time:day"}, DateRange: span},
		{Metrics: []string{"unique_viewers"}, Dimensions: []string{"time:day"}, DateRange: span, Filters: []Filter{{Op: "is", Dimension: "group", Values: []string{"prog-c"}}}},
		{Metrics: []string{"unique_viewers", "views"}, Dimensions: []string{"time:day"}, DateRange: span, Filters: []Filter{{Op: "is_not", Dimension: "group", Values: []string{"prog-a"}}}},
	}
	rowsPerDay := func() (one, more int) {
		t.Helper()
		rows, err := conn.Query(ctx, "SELECT count() FROM views_daily GROUP BY day")
		must(t, err)
		defer rows.Close()
		for rows.Next() {
			var n uint64
			must(t, rows.Scan(&n))
			if n == 1 {
				one++
			} else {
				more++
			}
		}
		return one, more
	}
	if one, more := rowsPerDay(); one == 0 || more == 0 {
		t.Fatalf("days of one row %d, of more %d: the test needs both", one, more)
	}
	for _, q := range queries {
		if p, err := e.plan(ctx, q, false); err != nil || !p.rowwise() {
			t.Fatalf("%+v: not read row by row (%v)", q, err)
		}
		sameAsRaw(t, e, conn, q)
	}
	must(t, conn.Exec(ctx, "OPTIMIZE TABLE views_daily FINAL"))
	must(t, conn.Exec(ctx, "OPTIMIZE TABLE group_views_daily FINAL"))
	if _, more := rowsPerDay(); more != 0 {
		t.Fatalf("%d days of more than one row after OPTIMIZE FINAL", more)
	}
	for _, q := range queries {
		sameAsRaw(t, e, conn, q)
	}
}
