// Package collector takes in credential events: it validates them, tags
// bots, counts the same action from the same address once per 24 hours,
// and hands them to a batch writer. Its HTTP handlers turn requests into
// Hits; the rest is plain Go.
package collector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dchest/siphash"
	"github.com/google/uuid"
	"github.com/phuslu/iploc"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/credstats/credstats/internal/arrival"
	"github.com/credstats/credstats/internal/dedup"
	"github.com/credstats/credstats/internal/edge"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/spool"
)

// Options configure a Collector. Zero values take the defaults.
type Options struct {
	Sink       Sink         // required
	DataDir    string       // required: salts and the dedup snapshot live here
	Logger     *slog.Logger // default: discard
	Registerer prometheus.Registerer
	// Now is the clock; tests move it.
	Now func() time.Time

	TrustedProxies []string // addresses or CIDR ranges allowed to set X-Forwarded-For

	// NoSpool keeps accepted events in memory until they are written, where
	// a crash or a long ClickHouse outage loses them. By default every
	// accepted event is on disk, in the spool, before it is answered.
	NoSpool       bool
	SpoolMaxBytes int64 // the spool's bound on disk; default 1 GiB
	SpoolNoSync   bool  // skip fsync: only to measure what durability costs
	QueueSize     int   // without the spool: events waiting in memory; default DefaultQueueSize

	BatchSize     int           // default DefaultBatchSize
	FlushInterval time.Duration // default DefaultFlushInterval

	DedupWindow  time.Duration // default 24h
	DedupMaxKeys int           // default 4,000,000 (about 30 bytes each)
	// SnapshotInterval is how often the dedup set is saved; default 15s. The
	// spool keeps the records since the last snapshot, to rebuild the set
	// from after a crash, and asks for an early one when it is half full.
	SnapshotInterval time.Duration

	// RateLimit is the events a second one client address may send to the
	// public routes, with bursts up to RateBurst; negative turns it off.
	RateLimit float64 // default 20
	RateBurst int     // default 200
}

func (o *Options) fill() error {
	var errs []error
	if o.Sink == nil {
		errs = append(errs, errors.New("collector: a sink is required"))
	}
	if o.DataDir == "" {
		errs = append(errs, errors.New("collector: a data folder is required"))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	setDefault(&o.QueueSize, DefaultQueueSize)
	setDefault(&o.BatchSize, DefaultBatchSize)
	setDefault(&o.FlushInterval, DefaultFlushInterval)
	setDefault(&o.DedupWindow, 24*time.Hour)
	setDefault(&o.DedupMaxKeys, dedup.DefaultMaxKeys)
	setDefault(&o.SnapshotInterval, 15*time.Second)
	setDefault(&o.SpoolMaxBytes, spool.DefaultMaxBytes)
	setDefault(&o.RateLimit, 20)
	setDefault(&o.RateBurst, 200)
	if o.QueueSize < 0 || o.BatchSize < 0 || o.DedupMaxKeys < 0 || o.RateBurst < 0 {
		errs = append(errs, errors.New("collector: sizes must be positive"))
	}
	return errors.Join(errs...)
}

func setDefault[T int | int64 | float64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// The writer's defaults. Every insert costs ClickHouse a new part in the
// events table and in each rollup, and the merges after it; measured on
// 2 cores under sustained load (issue 13), ClickHouse spent 16.9 us of CPU
// per event with 1-second batches of at most 50,000 events and 10.1 us
// with 5-second batches of at most 100,000. While ClickHouse takes the
// inserts, events reach the stats at most DefaultFlushInterval after they
// are accepted. Without the spool
// the memory queue holds three full batches.
const (
	DefaultBatchSize     = 100_000
	DefaultFlushInterval = 5 * time.Second
	DefaultQueueSize     = 3 * DefaultBatchSize
)

// Collector is the ingest pipeline.
type Collector struct {
	o        Options
	gate     *edge.Gate
	salts    *salts
	dedup    *dedup.Set
	agents   *classifier
	metrics  *metrics
	snapPath string
	stop     chan struct{}
	wg       sync.WaitGroup

	// Accepted events wait in the queue, the spool or with NoSpool memory,
	// until the writer has stored them.
	queue  queue
	writer *writer
}

// New starts a collector: it loads the salts and the dedup snapshot from
// the data folder and starts the batch writer.
func New(o Options) (*Collector, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	var c *Collector
	gate, err := edge.NewGate(edge.GateOptions{
		TrustedProxies: o.TrustedProxies, Rate: o.RateLimit, Burst: o.RateBurst, Now: o.Now,
		// The gate refuses nothing before New has made the metrics.
		Refused: func() { c.metrics.dropped.WithLabelValues("rate_limited").Inc() },
	})
	if err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create data folder: %w", err)
	}
	now := o.Now()
	s, err := openSalts(filepath.Join(o.DataDir, "salts.json"), now)
	if err != nil {
		return nil, err
	}
	c = &Collector{
		o:        o,
		gate:     gate,
		salts:    s,
		dedup:    dedup.New(dedup.Options{Window: o.DedupWindow, MaxKeys: o.DedupMaxKeys}),
		agents:   newClassifier(4096),
		snapPath: filepath.Join(o.DataDir, "dedup.snapshot"),
		stop:     make(chan struct{}),
	}
	if err := c.dedup.Load(c.snapPath, now); err != nil {
		// A damaged snapshot costs at most a day of double counting; it
		// must not keep the collector down.
		o.Logger.Error("cannot restore the dedup set, starting empty", "err", err)
	}
	c.metrics = newMetrics(o.Registerer, c)
	if o.NoSpool {
		c.queue = newMemoryQueue(&c.o, c.metrics)
	} else {
		sq, err := openSpoolQueue(&c.o, c.dedup, c.snapPath, c.metrics)
		if err != nil {
			return nil, err
		}
		registerSpool(o.Registerer, sq.spool)
		c.queue = sq
	}
	c.writer = startWriter(c.queue, &c.o, c.metrics)
	c.wg.Add(1)
	go c.snapshots()
	return c, nil
}

// Close writes what is queued (giving up when ctx ends) and saves the dedup
// set; with the spool, what could not be written waits there for the next
// start. Stop the HTTP server first, so nothing is pushed meanwhile.
func (c *Collector) Close(ctx context.Context) error {
	close(c.stop)
	c.wg.Wait()
	c.writer.close(ctx)
	snapErr := c.snapshot()
	return errors.Join(c.queue.close(), snapErr)
}

func (c *Collector) snapshots() {
	defer c.wg.Done()
	t := time.NewTicker(min(time.Second, c.o.SnapshotInterval))
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		pressed := c.queue.wantsSnapshot()
		if since := time.Since(last); since < c.o.SnapshotInterval && !(pressed && since >= time.Second) {
			continue
		}
		if err := c.snapshot(); err != nil {
			c.o.Logger.Error("cannot save the dedup set", "err", err)
		}
		last = time.Now()
	}
}

// snapshot saves the dedup set. The queue learns what the snapshot covers:
// the spool keeps records until one does.
func (c *Collector) snapshot() error {
	return c.queue.snapshot(func() error {
		if err := c.dedup.Save(c.snapPath, c.o.Now()); err != nil {
			return fmt.Errorf("cannot save the dedup set: %w", err)
		}
		return nil
	})
}

// Gate is the collector's gate, which its public routes go through.
func (c *Collector) Gate() *edge.Gate { return c.gate }

// Now is the collector's clock, which dates the events it takes.
func (c *Collector) Now() time.Time { return c.o.Now() }

// Hit is one event as it arrived.
type Hit struct {
	Input     event.Input
	Source    event.Source
	IP        netip.Addr
	UserAgent string
	// Time is when the client says the event happened (trusted API
	// clients only); zero means now.
	Time time.Time
	// DedupByKind counts one event per kind (type) from an address, whatever
	// the network, as the badges.ninja API documents for its route.
	DedupByKind bool
}

// Result is what became of an accepted Hit.
type Result struct {
	Event     event.Event
	Duplicate bool // counted already within the window: not stored
}

// Dropped says why an accepted event does not count, as the
// X-Credstats-Dropped header says it: "duplicate" (not stored), "bot"
// (stored with its reason, left out of every count), or "" when it counts.
func (r Result) Dropped() string {
	switch {
	case r.Duplicate:
		return "duplicate"
	case r.Event.Bot != event.NotBot:
		return "bot"
	}
	return ""
}

// ErrQueueFull refuses an event there is no room for: the spool (or the
// memory queue without it) is full or cannot be written.
var ErrQueueFull = errors.New("cannot accept events right now; try again shortly")

// Ingest validates a hit and queues it for storage. Duplicates are
// answered without error and not stored; bots are stored with their reason.
//
// Events from the authenticated API come from the integrator's servers,
// not from the person, so neither bot detection nor per-address dedup
// applies to them, and they have no visitor (zero): unique viewers count
// the people whose browsers sent events.
func (c *Collector) Ingest(h Hit) (Result, error) {
	c.metrics.incReceived(h.Source)
	e, err := h.Input.Event()
	if err != nil {
		c.metrics.invalidInput.inc(c.metrics.dropped, "invalid")
		return Result{}, err
	}
	now := c.o.Now()
	pair, err := c.salts.at(now)
	if err != nil {
		return Result{}, err
	}
	e.Source = h.Source
	e.Time = now
	if !h.Time.IsZero() {
		e.Time = h.Time
	}
	ip := h.IP.Unmap()
	if cc := iploc.IPCountry(ip); cc != "ZZ" {
		e.Country = cc
	}
	ip = edge.Identity(ip)
	var key uint64
	if h.Source != event.API {
		e.Visitor = hashVisitor(pair.today, ip, h.UserAgent)
		a := c.agents.classify(h.UserAgent)
		e.Browser, e.OS, e.Device, e.Bot = a.Browser, a.OS, a.Device, a.Bot
		if e.Bot == event.NotBot {
			var dup bool
			if key, dup = c.duplicate(pair, e, h.DedupByKind, ip, now); dup {
				c.metrics.duplicates.inc(c.metrics.dropped, "duplicate")
				return Result{Event: e, Duplicate: true}, nil
			}
		}
	}
	arrival.Fill(&e, h.Input.Via)
	e.ID = newEventID(now)
	if err := c.queue.push(key, e); err != nil {
		if key != 0 {
			// Refused, so not counted: the client's retry must count.
			c.dedup.Forget(key, now)
		}
		return Result{}, err
	}
	c.metrics.incAccepted(h.Source, e.Bot)
	return Result{Event: e}, nil
}

// duplicate reports whether the same action from the same address was
// counted within the window, and records it if not. The key is keyed with
// the day's salt; yesterday's key is looked up too, since the window
// crosses midnight. It returns the key it recorded.
func (c *Collector) duplicate(pair *saltPair, e event.Event, byKind bool, ip netip.Addr, now time.Time) (uint64, bool) {
	if byKind {
		e.Network = event.NetworkNone
	}
	if c.dedup.Contains(dedupKey(pair.yesterday, &e, ip), now) {
		return 0, true
	}
	key := dedupKey(pair.today, &e, ip)
	return key, c.dedup.Seen(key, now)
}

// newEventID makes a version 7 UUID: the milliseconds of t, then 74
// random bits from the runtime's per-thread ChaCha8 generator, seeded by
// the system. uuid.NewV7 reads the system's generator and takes a lock
// for every ID; the IDs need only be unique, not secret or ordered.
func newEventID(t time.Time) uuid.UUID {
	var id uuid.UUID
	binary.BigEndian.PutUint64(id[0:], uint64(t.UnixMilli())<<16|rand.Uint64()&0xfff|0x7000)
	binary.BigEndian.PutUint64(id[8:], rand.Uint64()&(1<<62-1)|1<<63)
	return id
}

func dedupKey(k saltKey, e *event.Event, ip netip.Addr) uint64 {
	var buf [event.MaxIDLen + 20]byte
	b := append(buf[:0], e.Credential...)
	b = append(b, 0, byte(e.Type), byte(e.Network), byte(e.Actor))
	a := ip.As16()
	b = append(b, a[:]...)
	return siphash.Hash(k[0], k[1], b)
}

func hashVisitor(k saltKey, ip netip.Addr, ua string) uint64 {
	var buf [16 + maxAgentLen]byte
	a := ip.As16()
	b := append(buf[:0], a[:]...)
	if len(ua) > maxAgentLen {
		ua = ua[:maxAgentLen]
	}
	b = append(b, ua...)
	// Zero is "no visitor" (API events), left out of unique viewers.
	return max(siphash.Hash(k[0], k[1], b), 1)
}

// Backlog says what waits to be written to ClickHouse.
type Backlog struct {
	Events      int        `json:"queued_events,omitempty"` // without the spool
	SpoolBytes  int64      `json:"unwritten_bytes"`
	Oldest      *time.Time `json:"oldest_pending,omitempty"`
	Retries     int64      `json:"write_retries"`
	Truncations int64      `json:"spool_damaged_tails_cut"`
}

// Backlog reports what waits to be written.
func (c *Collector) Backlog() Backlog {
	b := c.queue.backlog()
	b.Retries = c.writer.retries.Load()
	return b
}
