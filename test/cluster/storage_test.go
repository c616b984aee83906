package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/credstats/credstats/aggregator/counters"
	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/event"
)

// events makes n events over the given number of credentials, visitors
// drawn from a pool so that unique viewers are fewer than views.
func events(n, credentials int, seed uint64) []event.Event {
	r := rand.New(rand.NewPCG(seed, 1))
	now := time.Now().UTC().Truncate(time.Second)
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.Event{
			ID:         uuid.New(),
			Time:       now.Add(-time.Duration(r.IntN(3*24*3600)) * time.Second),
			Credential: fmt.Sprintf("cred-%d", r.IntN(credentials)),
			Group:      fmt.Sprintf("group-%d", r.IntN(5)),
			Type:       event.View,
			Actor:      event.Guest,
			Source:     event.Beacon,
			Visitor:    1 + r.Uint64N(uint64(n/3)),
			Country:    "DE",
			Browser:    "Firefox",
			OS:         "Linux",
			Device:     event.Desktop,
		}
		if r.IntN(4) == 0 {
			out[i].Type = event.Share
			out[i].Network = event.LinkedIn
		}
	}
	return out
}

// Each credential's rows live on one shard (the sharding key is
// sipHash64(credential)), for the events and for the per-credential
// rollups the views fill on that shard.
func TestACredentialLivesOnOneShard(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	sink := collector.ClickHouseSink{Conn: open(t, db, "ch1")}
	if err := sink.Write(ctx, collector.Batch{ID: 1, Events: events(20_000, 300, 1)}); err != nil {
		t.Fatal(err)
	}
	syncReplicas(t, db)
	shard1, shard2 := open(t, db, "ch1"), open(t, db, "ch3")
	for _, table := range []string{"events_local", "credential_daily_local", "credential_traffic_15m_local"} {
		on1 := count(t, shard1, "SELECT uniqExact(credential) FROM "+table)
		on2 := count(t, shard2, "SELECT uniqExact(credential) FROM "+table)
		both := count(t, shard1, "SELECT uniqExact(credential) FROM "+table+" WHERE credential IN (SELECT credential FROM remote('127.0.0.1:19403', currentDatabase(), "+table+"))")
		if on1 == 0 || on2 == 0 || on1+on2 != 300 || both != 0 {
			t.Errorf("%s: %d credentials on shard 1, %d on shard 2, %d on both; want 300 split, none on both", table, on1, on2, both)
		}
	}
	if n := count(t, shard2, "SELECT count() FROM events"); n != 20_000 {
		t.Errorf("%d events through the Distributed table, want 20000", n)
	}
}

// Unique viewers merge across shards: the rollups' uniq states, read
// through the Distributed tables, count what uniq over all raw events
// counts, and the public counters agree with the raw events.
func TestUniqueViewersMergeAcrossShards(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	conn := open(t, db, "ch2")
	evs := events(30_000, 50, 2)
	if err := (collector.ClickHouseSink{Conn: conn}).Write(ctx, collector.Batch{ID: 1, Events: evs}); err != nil {
		t.Fatal(err)
	}
	syncReplicas(t, db)
	raw := count(t, conn, "SELECT uniq(visitor) FROM events")
	for _, table := range []string{"totals_daily", "group_daily", "traffic_daily"} {
		// One state per shard and day at least: the merge is what counts.
		if merged := count(t, conn, "SELECT uniqMerge(visitors) FROM "+table); merged != raw {
			t.Errorf("%s: %d unique viewers merged, raw events have %d", table, merged, raw)
		}
	}
	// Both shards hold states of the same days: the merge above is real.
	for _, node := range []string{"ch1", "ch3"} {
		if n := count(t, open(t, db, node), "SELECT uniqExact(day) FROM totals_daily_local"); n < 3 {
			t.Errorf("%s holds totals of %d days, want every day", node, n)
		}
	}
	st, err := counters.Store{Conn: conn}.CredentialStats(ctx, "cred-7")
	if err != nil {
		t.Fatal(err)
	}
	views := count(t, conn, "SELECT count() FROM events WHERE credential = 'cred-7' AND type = 'view'")
	viewers := count(t, conn, "SELECT uniq(visitor) FROM events WHERE credential = 'cred-7' AND type = 'view'")
	if st.Views != views || st.UniqueViewers != viewers || views == 0 {
		t.Errorf("counters %d views, %d unique viewers; raw events %d, %d", st.Views, st.UniqueViewers, views, viewers)
	}
}

// The writer's exactly-once check works through the Distributed table:
// Stored finds every event of a batch whatever shard holds it, so a retry
// of a batch that was stored in part (one shard took its rows, the other
// was away) sends only the rest, and nothing is stored twice.
func TestBatchIDsWorkThroughTheDistributedTable(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	sink := collector.ClickHouseSink{Conn: open(t, db, "ch1", "ch2")}
	evs := events(5_000, 100, 3)
	// What reached the shards before the failure: the events of one shard.
	var first []event.Event
	for _, e := range evs {
		if e.Credential < "cred-5" {
			first = append(first, e)
		}
	}
	if err := sink.Write(ctx, collector.Batch{ID: 42, Events: first}); err != nil {
		t.Fatal(err)
	}
	// The retry, as collector/writer.go makes it, through another server.
	retry := collector.ClickHouseSink{Conn: open(t, db, "ch4", "ch3")}
	stored, err := retry.Stored(ctx, 42, 43, time.Now().Add(-4*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(first) {
		t.Fatalf("Stored found %d of the %d events stored", len(stored), len(first))
	}
	var rest []event.Event
	for _, e := range evs {
		if _, ok := stored[e.ID]; !ok {
			rest = append(rest, e)
		}
	}
	if err := retry.Write(ctx, collector.Batch{ID: 42, Events: rest}); err != nil {
		t.Fatal(err)
	}
	syncReplicas(t, db)
	conn := open(t, db, "ch3")
	if n := count(t, conn, "SELECT count() FROM events"); n != uint64(len(evs)) {
		t.Errorf("%d events after the retry, want %d", n, len(evs))
	}
	if n := count(t, conn, "SELECT uniqExact(id) FROM events WHERE batch = 42"); n != uint64(len(evs)) {
		t.Errorf("%d distinct events of batch 42, want %d", n, len(evs))
	}
	if n := count(t, conn, "SELECT countMerge(events) FROM credential_daily"); n != uint64(len(evs)) {
		t.Errorf("credential_daily counts %d events, want %d", n, len(evs))
	}
}

// Two batches whose rollup rows come out equal are both counted: the
// cluster's connections turn off the replicated tables' insert
// deduplication, which would drop the second block of a rollup.
func TestEqualRollupBlocksAreBothCounted(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	sink := collector.ClickHouseSink{Conn: open(t, db, "ch1")}
	e := events(3, 1, 4)[0]
	for id := range uint64(3) {
		e.ID = uuid.New()
		if err := sink.Write(ctx, collector.Batch{ID: id + 1, Events: []event.Event{e}}); err != nil {
			t.Fatal(err)
		}
	}
	syncReplicas(t, db)
	conn := open(t, db, "ch2", "ch4")
	for _, table := range []string{"totals_daily", "group_daily", "traffic_daily", "credential_traffic_15m"} {
		if n := count(t, conn, "SELECT sum(events) FROM "+table); n != 3 {
			t.Errorf("%s counts %d events, want 3", table, n)
		}
	}
}
