package collector_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/testutil/fakeclock"
)

const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"

// memSink is a sink for the pipeline's logic tests: it keeps what it is
// given, and can be made to fail or to block.
type memSink struct {
	mu       sync.Mutex
	events   []event.Event
	batchIDs []uint64
	sizes    []int         // events per write that stored
	fail     int           // fail this many writes first
	lostAcks int           // store this many writes, then report an error anyway
	gate     chan struct{} // when set, each write waits for a receive
}

// Stored makes memSink a collector.Checker.
func (s *memSink) Stored(ctx context.Context, from, to uint64, since time.Time) (map[uuid.UUID]struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[uuid.UUID]struct{}{}
	for i, e := range s.events {
		if s.batchIDs[i] >= from && s.batchIDs[i] < to && !e.Time.Before(since) {
			ids[e.ID] = struct{}{}
		}
	}
	return ids, nil
}

func (s *memSink) Write(ctx context.Context, b collector.Batch) error {
	events := b.Events
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return errors.New("server is down")
	}
	s.events = append(s.events, events...)
	for range events {
		s.batchIDs = append(s.batchIDs, b.ID)
	}
	s.sizes = append(s.sizes, len(events))
	if s.lostAcks > 0 {
		s.lostAcks--
		return errors.New("connection reset after the server took the batch")
	}
	return nil
}

func (s *memSink) stored() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Event(nil), s.events...)
}

func (s *memSink) batchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.sizes...)
}

func newCollector(t testing.TB, sink collector.Sink, o collector.Options) *collector.Collector {
	t.Helper()
	o.Sink = sink
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	c, err := collector.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func view(credential string, ip string) collector.Hit {
	return collector.Hit{
		Input:     event.Input{Credential: credential, Type: "view"},
		Source:    event.Beacon,
		IP:        netip.MustParseAddr(ip),
		UserAgent: chrome,
	}
}

func closeOK(t *testing.T, c *collector.Collector) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestFullQueueRefusesAndLosesNothingAccepted(t *testing.T) {
	sink := &memSink{gate: make(chan struct{})}
	c := newCollector(t, sink, collector.Options{NoSpool: true, QueueSize: 3, BatchSize: 1, FlushInterval: time.Hour})
	accepted := 0
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = c.Ingest(view(fmt.Sprintf("c%d", i), "192.0.2.1"))
		if err == nil {
			accepted++
		}
	}
	if !errors.Is(err, collector.ErrQueueFull) {
		t.Fatalf("a blocked sink never filled the queue: %v", err)
	}
	close(sink.gate) // the server is back
	closeOK(t, c)
	if got := len(sink.stored()); got != accepted {
		t.Errorf("%d events stored, %d accepted", got, accepted)
	}
}

func TestFailedWritesAreRetriedWithoutDuplicates(t *testing.T) {
	writerModes(t, func(t *testing.T, o collector.Options) {
		sink := &memSink{fail: 3}
		o.BatchSize, o.FlushInterval = 4, time.Millisecond
		c := newCollector(t, sink, o)
		creds := ingestN(t, c, "c", 10)
		closeOK(t, c)
		storedOnce(t, sink, creds)
		if n := c.Backlog().Retries; n != 3 {
			t.Errorf("%d retries reported, want 3", n)
		}
	})
}

func TestCloseGivesUpWhenItsContextEnds(t *testing.T) {
	sink := &memSink{fail: 1 << 30}
	c := newCollector(t, sink, collector.Options{NoSpool: true, FlushInterval: time.Millisecond})
	if _, err := c.Ingest(view("c", "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); err == nil {
		t.Fatal("Close reported success although nothing could be written")
	}
}

// countByCredential checks that every wanted credential is stored exactly
// once.
func storedOnce(t *testing.T, sink *memSink, credentials []string) {
	t.Helper()
	seen := map[string]int{}
	for _, e := range sink.stored() {
		seen[e.Credential]++
	}
	for _, c := range credentials {
		if seen[c] != 1 {
			t.Errorf("%s stored %d times, want once", c, seen[c])
		}
	}
	if len(sink.stored()) != len(credentials) {
		t.Errorf("%d events stored, want %d", len(sink.stored()), len(credentials))
	}
}

func ingestN(t *testing.T, c *collector.Collector, prefix string, n int) []string {
	t.Helper()
	var creds []string
	for i := range n {
		cred := fmt.Sprintf("%s%d", prefix, i)
		if _, err := c.Ingest(view(cred, "192.0.2.1")); err != nil {
			t.Fatal(err)
		}
		creds = append(creds, cred)
	}
	return creds
}

func TestSpoolKeepsWhatCouldNotBeWrittenForTheNextStart(t *testing.T) {
	dir := t.TempDir()
	down := &memSink{fail: 1 << 30}
	c := newCollector(t, down, collector.Options{DataDir: dir, FlushInterval: time.Millisecond})
	creds := ingestN(t, c, "kept", 20)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c.Close(ctx) // ClickHouse stays down past the shutdown bound
	if n := len(down.stored()); n != 0 {
		t.Fatalf("%d stored by a failing sink", n)
	}
	up := &memSink{}
	c = newCollector(t, up, collector.Options{DataDir: dir, FlushInterval: time.Millisecond})
	closeOK(t, c)
	storedOnce(t, up, creds)
}

func TestUncertainBatchIsNotStoredTwice(t *testing.T) {
	sink := &memSink{lostAcks: 2}
	c := newCollector(t, sink, collector.Options{FlushInterval: time.Millisecond, BatchSize: 7})
	creds := ingestN(t, c, "reset", 30)
	closeOK(t, c)
	storedOnce(t, sink, creds)
}

func TestFullSpoolRefusesThenRecovers(t *testing.T) {
	sink := &memSink{gate: make(chan struct{})}
	c := newCollector(t, sink, collector.Options{SpoolMaxBytes: 64 << 10, FlushInterval: time.Millisecond})
	var accepted []string
	var err error
	for i := 0; i < 10_000 && err == nil; i++ {
		cred := fmt.Sprintf("full%d", i)
		if _, err = c.Ingest(view(cred, "192.0.2.1")); err == nil {
			accepted = append(accepted, cred)
		}
	}
	if !errors.Is(err, collector.ErrQueueFull) {
		t.Fatalf("a spool that cannot drain never refused: %v", err)
	}
	close(sink.gate) // ClickHouse is back: the spool drains and takes events again
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err = c.Ingest(view("after", "192.0.2.1")); err == nil {
			accepted = append(accepted, "after")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the spool never took events again: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	closeOK(t, c)
	storedOnce(t, sink, accepted)
}

func TestDedupCrossesMidnight(t *testing.T) {
	clk := &fakeclock.Clock{}
	sink := &memSink{}
	c := newCollector(t, sink, collector.Options{Now: clk.Now})
	defer closeOK(t, c)
	f := func(at string, wantDuplicate bool) {
		t.Helper()
		tm, _ := time.Parse(time.DateTime, at)
		clk.Set(tm)
		res, err := c.Ingest(view("midnight", "192.0.2.7"))
		if err != nil || res.Duplicate != wantDuplicate {
			t.Errorf("%s: duplicate %v (%v), want %v", at, res.Duplicate, err, wantDuplicate)
		}
	}
	f("2026-03-01 23:30:00", false)
	f("2026-03-02 00:10:00", true) // a new day's salt, yesterday's key still holds
	f("2026-03-02 23:29:59", true)
	f("2026-03-02 23:30:00", false) // 24 hours after the first counted view
	f("2026-03-03 08:00:00", true)
}

func TestVisitorHashRotatesDaily(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	c := newCollector(t, &memSink{}, collector.Options{Now: clk.Now})
	defer closeOK(t, c)
	visitor := func(credential, ip string) uint64 {
		t.Helper()
		res, err := c.Ingest(view(credential, ip))
		if err != nil {
			t.Fatal(err)
		}
		return res.Event.Visitor
	}
	a := visitor("v1", "192.0.2.1")
	if b := visitor("v2", "192.0.2.1"); a != b {
		t.Error("the same client got two visitor hashes on one day")
	}
	if b := visitor("v3", "192.0.2.2"); a == b {
		t.Error("two clients got one visitor hash")
	}
	clk.Set(clk.Now().Add(24 * time.Hour))
	if b := visitor("v4", "192.0.2.1"); a == b {
		t.Error("the visitor hash did not change with the day")
	}
}

func TestSaltsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	clk := fakeclock.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	run := func() uint64 {
		c := newCollector(t, &memSink{}, collector.Options{Now: clk.Now, DataDir: dir})
		defer closeOK(t, c)
		res, err := c.Ingest(view(fmt.Sprintf("s%d", clk.Now().UnixNano()), "192.0.2.1"))
		if err != nil {
			t.Fatal(err)
		}
		return res.Event.Visitor
	}
	if a, b := run(), run(); a != b {
		t.Error("a restart changed the day's salt")
	}
}

func TestUserAgentClassification(t *testing.T) {
	c := newCollector(t, &memSink{}, collector.Options{})
	defer closeOK(t, c)
	f := func(ua string, bot event.BotReason, device event.Device) {
		t.Helper()
		h := view(fmt.Sprintf("ua-%d", time.Now().UnixNano()), "192.0.2.1")
		h.UserAgent = ua
		res, err := c.Ingest(h)
		if err != nil {
			t.Fatal(err)
		}
		if res.Event.Bot != bot || res.Event.Device != device {
			t.Errorf("%.50q: bot %v device %v, want %v %v", ua, res.Event.Bot, res.Event.Device, bot, device)
		}
	}
	f(chrome, event.NotBot, event.Desktop)
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", event.NotBot, event.Mobile)
	f("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", event.NotBot, event.Tablet)
	f("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", event.Crawler, event.DeviceBot)
	f("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", event.Crawler, event.DeviceBot)
	f("Mozilla/5.0 (compatible; GPTBot/1.0; +https://openai.com/gptbot)", event.Crawler, event.DeviceBot)
	f("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36", event.Headless, event.DeviceBot)
	f("python-requests/2.31", event.NotBrowser, event.DeviceBot)
	f("WhatsApp/2.23.20.0", event.NotBrowser, event.DeviceBot)
	f("", event.NoUserAgent, event.DeviceBot)
}

// The gate's own tests are in internal/edge; this one checks the collector
// refuses to start with a trusted proxy that is no address.
func TestBadTrustedProxy(t *testing.T) {
	if _, err := collector.New(collector.Options{Sink: &memSink{}, DataDir: t.TempDir(), TrustedProxies: []string{"not-an-ip"}}); err == nil {
		t.Error("a bad trusted proxy was accepted")
	}
}

// TestRateLimitRefusalsAreCounted: the collector's options set its gate's
// rate, and every refusal counts as a dropped event.
func TestRateLimitRefusalsAreCounted(t *testing.T) {
	clk := fakeclock.New(time.Unix(1_700_000_000, 0))
	reg := prometheus.NewRegistry()
	c := newCollector(t, &memSink{}, collector.Options{Now: clk.Now, RateLimit: 2, RateBurst: 4, Registerer: reg})
	defer closeOK(t, c)
	a := netip.MustParseAddr("192.0.2.1")
	allowed := 0
	for range 10 {
		if c.Gate().Allow(a) {
			allowed++
		}
	}
	if allowed != 4 {
		t.Errorf("%d allowed in a burst of 10, want 4", allowed)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var refused float64
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if f.GetName() == "credstats_events_dropped_total" && m.GetLabel()[0].GetValue() == "rate_limited" {
				refused = m.GetCounter().GetValue()
			}
		}
	}
	if refused != 6 {
		t.Errorf("%v refusals counted, want 6", refused)
	}
}

func BenchmarkIngest(b *testing.B) {
	c := newCollector(b, &memSink{}, collector.Options{QueueSize: 1 << 20, BatchSize: 1 << 14})
	defer c.Close(context.Background())
	ips := make([]netip.Addr, 4096)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h := view("01hrsvjp560yksep2a3bek3z97", "192.0.2.1")
		h.IP = ips[i%len(ips)]
		h.Input.Credential = "cred-" + string(rune('a'+i%26))
		i++
		if _, err := c.Ingest(h); err != nil && !errors.Is(err, collector.ErrQueueFull) {
			b.Fatal(err)
		}
	}
}
