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

// TestClickHouseSinkStoresEveryField reads back every column the sink
// writes, for events that differ in each.
func TestClickHouseSinkStoresEveryField(t *testing.T) {
	_, conn := chtest.New(t)
	sink := collector.ClickHouseSink{Conn: conn}
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	events := []event.Event{
		{ID: uuid.New(), Time: now, Credential: "a", Group: "g1", Type: event.Share, Network: event.Twitter, Actor: event.Recipient,
			Source: event.Pixel, Visitor: 7, URLHost: "u.example", URLPath: "/p", ReferrerHost: "r.example", ReferrerPath: "/q",
			Country: "FR", Browser: "Firefox", OS: "Linux", Device: event.Mobile, Bot: event.NotBot},
		{ID: uuid.New(), Time: now.Add(-time.Hour), Credential: "b", Type: event.Verify, Actor: event.Guest,
			Source: event.API, Device: event.DeviceUnknown, Bot: event.Crawler},
	}
	if err := sink.Write(ctx, collector.Batch{ID: 9, Events: events}); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT id, time, credential, group_id, toString(type), toString(network), toString(actor),
		toString(source), visitor, url_host, url_path, referrer_host, referrer_path, country, browser, os, toString(device),
		toString(bot_reason), batch FROM events ORDER BY credential`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var got event.Event
		var typ, network, actor, source, device, bot string
		var batch uint64
		if err := rows.Scan(&got.ID, &got.Time, &got.Credential, &got.Group, &typ, &network, &actor, &source, &got.Visitor,
			&got.URLHost, &got.URLPath, &got.ReferrerHost, &got.ReferrerPath, &got.Country, &got.Browser, &got.OS, &device, &bot, &batch); err != nil {
			t.Fatal(err)
		}
		want := events[i]
		enums := fmt.Sprint(want.Type.String(), want.Network.String(), want.Actor.String(), want.Source.String(), want.Device.String(), want.Bot.String())
		if g := fmt.Sprint(typ, network, actor, source, device, bot); g != enums || batch != 9 {
			t.Errorf("event %d: enums %q, batch %d; want %q, 9", i, g, batch, enums)
		}
		got.Type, got.Network, got.Actor, got.Source, got.Device, got.Bot = want.Type, want.Network, want.Actor, want.Source, want.Device, want.Bot
		got.Time = got.Time.UTC()
		if got != want {
			t.Errorf("event %d: stored %+v, want %+v", i, got, want)
		}
	}
	if i != len(events) {
		t.Errorf("%d events stored, want %d", i, len(events))
	}
}
