package lifecycle_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/catalog"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/testutil/chtest"
	"github.com/credstats/credstats/lifecycle"
)

// TestEraseLeavesNoTrace: after erasing a credential no table of the
// database has a row that names it, its counters and queries show nothing,
// the site-wide and group rollups count exactly the other credentials'
// events, and a second erasure removes nothing.
func TestEraseLeavesNoTrace(t *testing.T) {
	_, conn := chtest.New(t)
	now := time.Now().UTC()
	lastMonth := now.AddDate(0, -1, 0)
	const gone, kept = "cred-erase-me", "cred-keep-me"
	put(t, conn,
		ev(gone, "program-1", event.View, 0, now.Add(-time.Hour), 1),
		ev(gone, "program-1", event.View, 0, now.Add(-time.Hour), 2),
		ev(gone, "program-1", event.Share, event.LinkedIn, lastMonth, 1),
		ev(kept, "program-1", event.View, 0, now.Add(-time.Hour), 3),
		ev(kept, "program-1", event.Download, 0, lastMonth, 3),
		ev(kept, "program-2", event.View, 0, lastMonth, 4),
	)
	bot := ev(gone, "program-1", event.View, 0, now.Add(-time.Hour), 9)
	bot.Bot = event.Crawler
	put(t, conn, bot)
	links := auth.NewLinks(conn, []byte("0123456789abcdef0123456789abcdef"), 0)
	if _, _, err := links.Create(ctx, "for the recipient", auth.Scope{Kind: auth.ScopeCredential, Value: gone}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := links.Create(ctx, "the program", auth.Scope{Kind: auth.ScopeGroup, Value: "program-1"}); err != nil {
		t.Fatal(err)
	}
	// The credential registry's entry, where the schema has the registry.
	registry := count(t, conn, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'credentials'") == 1
	if registry {
		if err := conn.Exec(ctx, "INSERT INTO credentials (id, name, recipient_name, group_id) SELECT ?, 'Data Science', 'Ada Lovelace', 'program-1'", gone); err != nil {
			t.Fatal(err)
		}
	}
	keptBefore := stats(t, conn, kept)
	if found := rowsNaming(t, conn, gone); len(found) < 5 {
		t.Fatalf("before the erasure the credential is only in %v", found)
	}

	rep, err := lifecycle.Erase(ctx, conn, gone)
	if err != nil {
		t.Fatal(err)
	}
	if registry && rep.Removed["credentials"] != 1 {
		t.Errorf("registry entries removed: %d, want 1", rep.Removed["credentials"])
	}
	if rep.Removed["events"] != 4 || rep.Removed["share_links"] != 1 || rep.Removed["credential_daily"] == 0 || rep.Removed["credential_traffic_15m"] == 0 {
		t.Errorf("report: %+v", rep)
	}
	var mixed []string // the rollups that count many credentials in a row
	for _, r := range catalog.Rollups {
		if !r.Has("credential") {
			mixed = append(mixed, r.Name)
		}
	}
	if got := slices.Sorted(maps.Keys(rep.Recounted)); len(mixed) < 6 || !slices.Equal(got, slices.Sorted(slices.Values(mixed))) {
		t.Errorf("recounted %v, want the site-wide and group rollups %v", got, mixed)
	}
	if found := rowsNaming(t, conn, gone); len(found) > 0 {
		t.Errorf("after the erasure rows name the credential: %v", found)
	}

	// Every table fed from events now counts the kept credential's three
	// events, and nothing else.
	for table, n := range sums(t, conn) {
		if n != 3 {
			t.Errorf("%s counts %d events, want 3", table, n)
		}
	}
	if st := stats(t, conn, gone); st.Views != 0 || st.UniqueViewers != 0 || st.Shares["linkedin"] != 0 {
		t.Errorf("counters of the erased credential: %+v", st.Counts)
	}
	if st := stats(t, conn, kept); st.Views != keptBefore.Views || st.Downloads != keptBefore.Downloads || st.UniqueViewers != keptBefore.UniqueViewers {
		t.Errorf("counters of the other credential: %+v, before %+v", st.Counts, keptBefore.Counts)
	}
	res := runQuery(t, conn, now, `{"metrics": ["events", "views", "unique_viewers"], "dimensions": ["credential"], "date_range": "all"}`)
	for _, r := range res.Results {
		if r.Dimensions[0] == gone {
			t.Errorf("the query engine still has %v", r)
		}
	}
	res = runQuery(t, conn, now, `{"metrics": ["events", "unique_viewers"], "dimensions": ["group"], "filters": [["is", "group", ["program-1"]]], "date_range": "all"}`)
	if len(res.Results) != 1 || res.Results[0].Metrics[0] != 2 || res.Results[0].Metrics[1] != 1 {
		t.Errorf("program-1 after the erasure: %+v, want 2 events and 1 viewer", res.Results)
	}

	again, err := lifecycle.Erase(ctx, conn, gone)
	if err != nil || again.Total() != 0 || len(again.Recounted) != 0 {
		t.Errorf("a second erasure: %+v, %v", again, err)
	}
	if _, err := lifecycle.Erase(ctx, conn, "no spaces allowed"); err == nil {
		t.Error("an invalid credential id was taken")
	}
}

// TestRetentionDropsRawMonthsOnly: months past the retention leave the
// events table, while counters, rollups and queries answer as before; an
// erasure then says which months' site-wide counts it could not recount.
func TestRetentionDropsRawMonthsOnly(t *testing.T) {
	_, conn := chtest.New(t)
	now := time.Now().UTC()
	old := time.Date(now.Year()-3, 1, 15, 12, 0, 0, 0, time.UTC)
	put(t, conn,
		ev("cred-a", "g", event.View, 0, old, 1),
		ev("cred-a", "g", event.View, 0, old.AddDate(0, 1, 0), 2),
		ev("cred-a", "g", event.View, 0, now.Add(-time.Minute), 3),
		ev("cred-b", "g", event.View, 0, now.Add(-time.Minute), 4),
	)
	before, statsBefore := sums(t, conn), stats(t, conn, "cred-a")
	allTime := `{"metrics": ["views"], "dimensions": ["credential"], "date_range": "all", "order_by": [["credential", "asc"]]}`
	queryBefore := runQuery(t, conn, now, allTime)

	dropped, err := lifecycle.DropOld(ctx, conn, 25, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint32{uint32(old.Year()*100 + 1), uint32(old.Year()*100 + 2)}
	if !slices.Equal(dropped, want) {
		t.Errorf("dropped %v, want %v", dropped, want)
	}
	if n := count(t, conn, "SELECT count() FROM events"); n != 2 {
		t.Errorf("%d raw events left, want the 2 of this month", n)
	}
	after := sums(t, conn)
	delete(before, "events")
	delete(after, "events")
	if !maps.Equal(before, after) {
		t.Errorf("rollups changed: %v, before %v", after, before)
	}
	if st := stats(t, conn, "cred-a"); st.Views != 3 || st.Views != statsBefore.Views {
		t.Errorf("counters after the drop: %+v", st.Counts)
	}
	if q := runQuery(t, conn, now, allTime); len(q.Results) != 2 || q.Results[0].Metrics[0] != queryBefore.Results[0].Metrics[0] {
		t.Errorf("query after the drop: %+v, before %+v", q.Results, queryBefore.Results)
	}
	since, err := lifecycle.RawSince(ctx, conn)
	if err != nil || since.Year() != now.Year() || since.Month() != now.Month() || since.Day() != 1 {
		t.Errorf("raw since %v, %v", since, err)
	}
	if again, err := lifecycle.DropOld(ctx, conn, 25, now); err != nil || len(again) != 0 {
		t.Errorf("a second pass dropped %v, %v", again, err)
	}
	if none, err := lifecycle.DropOld(ctx, conn, 0, now); err != nil || len(none) != 0 {
		t.Errorf("forever dropped %v, %v", none, err)
	}

	rep, err := lifecycle.Erase(ctx, conn, "cred-a")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.NotRecounted, want) {
		t.Errorf("not recounted %v, want %v", rep.NotRecounted, want)
	}
	if found := rowsNaming(t, conn, "cred-a"); len(found) > 0 {
		t.Errorf("after the erasure rows name the credential: %v", found)
	}
}

func TestParseRetention(t *testing.T) {
	f := func(in string, want lifecycle.Retention, ok bool) {
		t.Helper()
		got, err := lifecycle.ParseRetention(in)
		if got != want || (err == nil) != ok {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v, ok %v", in, got, err, want, ok)
		}
	}
	f("", 0, true)
	f("forever", 0, true)
	f("25mo", 25, true)
	f("2y", 24, true)
	f("0mo", 0, false)
	f("25", 0, false)
	f("25d", 0, false)
	f("-3mo", 0, false)
	f("99999y", 0, false)

	now := time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC)
	if got := lifecycle.Retention(25).Cutoff(now); !got.Equal(time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("cutoff of 25mo at %v: %v", now, got)
	}
	if got := lifecycle.Retention(0).Cutoff(now); !got.IsZero() {
		t.Errorf("cutoff of forever: %v", got)
	}
}

// TestKeeperDropsAndShows: the keeper drops old months by itself and
// shows the retention and the oldest month kept in its metrics.
func TestKeeperDropsAndShows(t *testing.T) {
	_, conn := chtest.New(t)
	now := time.Now().UTC()
	put(t, conn, ev("cred-a", "g", event.View, 0, now.AddDate(-5, 0, 0), 1), ev("cred-a", "g", event.View, 0, now, 2))
	reg := prometheus.NewRegistry()
	k := lifecycle.NewKeeper(lifecycle.KeeperOptions{Conn: conn, Retention: 12, Every: 10 * time.Millisecond, Registerer: reg})
	kctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { k.Run(kctx); close(done) }()
	defer func() { cancel(); <-done }()
	thisMonth := float64(time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).Unix())
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m := metrics(t, reg)
		if m["credstats_retention_months_dropped_total"] == 1 && m["credstats_raw_events_since_timestamp_seconds"] == thisMonth {
			if m["credstats_retention_months"] != 12 {
				t.Errorf("retention shown as %v months", m["credstats_retention_months"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics after 30 s: %v", m)
		}
	}
	if n := count(t, conn, "SELECT count() FROM events"); n != 1 {
		t.Errorf("%d raw events left, want 1", n)
	}
}

func metrics(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}
