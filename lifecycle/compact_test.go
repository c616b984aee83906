package lifecycle_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/testutil/chtest"
	"github.com/credstats/credstats/lifecycle"
)

// TestCompactViewsKeepsAnswers: views written in several inserts leave a
// day in several rows of the views rollups; CompactViews makes every day
// (and group) one row, and the daily series of views and unique viewers,
// site-wide and of a group, answers the same before and after, and the
// same as the raw events.
func TestCompactViewsKeepsAnswers(t *testing.T) {
	_, conn := chtest.New(t)
	now := time.Now().UTC()
	for _, table := range []string{"views_daily", "group_views_daily"} {
		if err := conn.Exec(ctx, "SYSTEM STOP MERGES "+table); err != nil {
			t.Fatal(err)
		}
	}
	// Three inserts, each over the same three days and two groups. The
	// days end at yesterday's noon, so that the 40 minutes before each
	// stay within its day at any hour the test runs.
	noon := now.Truncate(24 * time.Hour).Add(-12 * time.Hour)
	visitor := uint64(0)
	for range 3 {
		var batch []event.Event
		for day := range 3 {
			for i := range 40 {
				visitor++
				group := fmt.Sprintf("program-%d", i%2)
				batch = append(batch, ev("cred-a", group, event.View, 0, noon.AddDate(0, 0, -day).Add(-time.Duration(i)*time.Minute), visitor%70))
			}
		}
		put(t, conn, batch...)
	}
	const most = "SELECT max(c) FROM (SELECT count() AS c FROM %s GROUP BY %s)"
	if n := count(t, conn, fmt.Sprintf(most, "views_daily", "day")); n < 2 {
		t.Fatalf("the precondition failed: a day of views_daily is at most %d rows, want several", n)
	}
	series := func(filter string) string {
		return `{"metrics": ["views", "unique_viewers"], "dimensions": ["time:day"], "date_range": "30d"` + filter + `}`
	}
	group := `, "filters": [["is", "group", ["program-1"]]]`
	before := []string{fmt.Sprint(runQuery(t, conn, now, series("")).Results), fmt.Sprint(runQuery(t, conn, now, series(group)).Results)}

	for _, table := range []string{"views_daily", "group_views_daily"} {
		if err := conn.Exec(ctx, "SYSTEM START MERGES "+table); err != nil {
			t.Fatal(err)
		}
	}
	merged, err := lifecycle.CompactViews(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(merged, func(s string) bool { return strings.HasPrefix(s, "views_daily:") }) {
		t.Errorf("CompactViews merged %v, want views_daily among them", merged)
	}
	for table, key := range map[string]string{"views_daily": "day", "group_views_daily": "day, group_id"} {
		if n := count(t, conn, fmt.Sprintf(most, table, key)); n != 1 {
			t.Errorf("after CompactViews a (%s) of %s is up to %d rows, want 1", key, table, n)
		}
	}
	after := []string{fmt.Sprint(runQuery(t, conn, now, series("")).Results), fmt.Sprint(runQuery(t, conn, now, series(group)).Results)}
	if !slices.Equal(before, after) {
		t.Errorf("the series changed:\nbefore %v\nafter  %v", before, after)
	}
	// The raw events' own answer, day by day, site-wide.
	rows, err := conn.Query(ctx, `SELECT toString(toDate(time, 'UTC')), count(), uniqIf(visitor, visitor != 0) FROM events
		WHERE type = 'view' GROUP BY toDate(time, 'UTC') ORDER BY toDate(time, 'UTC')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	res := runQuery(t, conn, now, series(""))
	byDay := map[string][]float64{}
	for _, r := range res.Results {
		byDay[r.Dimensions[0]] = r.Metrics
	}
	days := 0
	for rows.Next() {
		var day string
		var views, uniques uint64
		if err := rows.Scan(&day, &views, &uniques); err != nil {
			t.Fatal(err)
		}
		days++
		if got := byDay[day]; len(got) != 2 || got[0] != float64(views) || got[1] != float64(uniques) {
			t.Errorf("%s: the series says %v, the raw events %d views and %d unique viewers", day, got, views, uniques)
		}
	}
	if days != 3 {
		t.Fatalf("the raw events hold %d days, want 3", days)
	}

	// Nothing left to merge: a second pass does nothing.
	if merged, err := lifecycle.CompactViews(ctx, conn); err != nil || len(merged) != 0 {
		t.Errorf("a second pass merged %v (%v), want nothing", merged, err)
	}
}
