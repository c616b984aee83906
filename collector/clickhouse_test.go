package collector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

func sampleEvents(n int) []event.Event {
	events := make([]event.Event, n)
	now := time.Now().UTC().Truncate(time.Second)
	for i := range events {
		events[i] = event.Event{
			ID: uuid.New(), Time: now, Credential: fmt.Sprintf("cred-%d", i%1000), Group: "spring",
			Type: event.Share, Network: event.LinkedIn, Actor: event.Guest, Source: event.Beacon,
			URLHost: "certs.example.org", URLPath: "/c/1", ReferrerHost: "www.linkedin.com", ReferrerPath: "/feed/",
			Visitor: uint64(i), Country: "DE", Browser: "Chrome", OS: "Windows", Device: event.Desktop,
		}
	}
	return events
}

func TestClickHouseSinkStoresAndFindsBatches(t *testing.T) {
	_, conn := chtest.New(t)
	sink := collector.ClickHouseSink{Conn: conn}
	ctx := context.Background()
	events := sampleEvents(10)
	if err := sink.Write(ctx, collector.Batch{ID: 42, Events: events[:6]}); err != nil {
		t.Fatal(err)
	}
	if err := sink.Write(ctx, collector.Batch{ID: 50, Events: events[6:]}); err != nil {
		t.Fatal(err)
	}
	since := events[0].Time.Add(-time.Minute)
	for _, c := range []struct {
		from, to uint64
		want     int
	}{{0, 42, 0}, {42, 43, 6}, {42, 51, 10}, {43, 50, 0}, {50, 1 << 62, 4}} {
		ids, err := sink.Stored(ctx, c.from, c.to, since)
		if err != nil || len(ids) != c.want {
			t.Errorf("batches [%d, %d): %d ids (%v), want %d", c.from, c.to, len(ids), err, c.want)
		}
	}
	ids, _ := sink.Stored(ctx, 42, 43, since)
	for _, e := range events[:6] {
		if _, ok := ids[e.ID]; !ok {
			t.Errorf("event %s of batch 42 not found", e.ID)
		}
	}
}

// BenchmarkClickHouseWrite measures encoding and sending one batch of
// 10,000 events to the real server, per event.
func BenchmarkClickHouseWrite(b *testing.B) {
	_, conn := chtest.New(b)
	sink := collector.ClickHouseSink{Conn: conn}
	events := sampleEvents(10_000)
	b.ReportAllocs()
	id := uint64(0)
	for b.Loop() {
		id++
		if err := sink.Write(context.Background(), collector.Batch{ID: id, Events: events}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
}
