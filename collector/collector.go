// Package collector takes in credential events: it validates them, tags
// bots, counts the same action from the same address once per 24 hours,
// and hands them to a batch writer. Its HTTP handlers turn requests into
// Hits; the rest is plain Go.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dchest/siphash"
	"github.com/google/uuid"
	"github.com/phuslu/iploc"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/credstats/credstats/internal/dedup"
	"github.com/credstats/credstats/internal/event"
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

	QueueSize     int           // default 100,000 events
	BatchSize     int           // default 50,000 events
	FlushInterval time.Duration // default 1s

	DedupWindow      time.Duration // default 24h
	DedupMaxKeys     int           // default 4,000,000 (about 30 bytes each)
	SnapshotInterval time.Duration // how often the dedup set is saved; default 1m

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
	setDefault(&o.QueueSize, 100_000)
	setDefault(&o.BatchSize, 50_000)
	setDefault(&o.FlushInterval, time.Second)
	setDefault(&o.DedupWindow, 24*time.Hour)
	setDefault(&o.DedupMaxKeys, 4_000_000)
	setDefault(&o.SnapshotInterval, time.Minute)
	setDefault(&o.RateLimit, 20)
	setDefault(&o.RateBurst, 200)
	if o.QueueSize < 0 || o.BatchSize < 0 || o.DedupMaxKeys < 0 || o.RateBurst < 0 {
		errs = append(errs, errors.New("collector: sizes must be positive"))
	}
	return errors.Join(errs...)
}

func setDefault[T int | float64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Collector is the ingest pipeline.
type Collector struct {
	o        Options
	proxies  proxies
	salts    *salts
	dedup    *dedup.Set
	agents   *classifier
	limiter  *limiter
	batcher  *Batcher
	metrics  *metrics
	snapPath string
	stop     chan struct{}
	wg       sync.WaitGroup
}

// New starts a collector: it loads the salts and the dedup snapshot from
// the data folder and starts the batch writer.
func New(o Options) (*Collector, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	proxies, err := parseProxies(o.TrustedProxies)
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
	c := &Collector{
		o:        o,
		proxies:  proxies,
		salts:    s,
		dedup:    dedup.New(dedup.Options{Window: o.DedupWindow, MaxKeys: o.DedupMaxKeys}),
		agents:   newClassifier(4096),
		snapPath: filepath.Join(o.DataDir, "dedup.snapshot"),
		stop:     make(chan struct{}),
	}
	if o.RateLimit > 0 {
		c.limiter = newLimiter(o.RateLimit, o.RateBurst, 100_000)
	}
	if err := c.dedup.Load(c.snapPath, now); err != nil {
		// A damaged snapshot costs at most a day of double counting; it
		// must not keep the collector down.
		o.Logger.Error("cannot restore the dedup set, starting empty", "err", err)
	}
	c.metrics = newMetrics(o.Registerer, c)
	c.batcher = newBatcher(BatcherOptions{
		Sink: o.Sink, QueueSize: o.QueueSize, BatchSize: o.BatchSize,
		FlushInterval: o.FlushInterval, Logger: o.Logger, metrics: c.metrics,
	})
	c.wg.Add(1)
	go c.snapshots()
	return c, nil
}

// Close writes what is queued (giving up when ctx ends) and saves the dedup
// set. Stop the HTTP server first, so nothing is pushed meanwhile.
func (c *Collector) Close(ctx context.Context) error {
	close(c.stop)
	c.wg.Wait()
	var errs []error
	if lost := c.batcher.Close(ctx); lost > 0 {
		errs = append(errs, fmt.Errorf("cannot write %d events before shutdown", lost))
	}
	if err := c.dedup.Save(c.snapPath, c.o.Now()); err != nil {
		errs = append(errs, fmt.Errorf("cannot save the dedup set: %w", err))
	}
	return errors.Join(errs...)
}

func (c *Collector) snapshots() {
	defer c.wg.Done()
	t := time.NewTicker(c.o.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if err := c.dedup.Save(c.snapPath, c.o.Now()); err != nil {
				c.o.Logger.Error("cannot save the dedup set", "err", err)
			}
		}
	}
}

// ClientIP is the client's address for a request from peer.
func (c *Collector) ClientIP(peer netip.Addr, forwardedFor string) netip.Addr {
	return c.proxies.clientIP(peer, forwardedFor)
}

// Allow takes one request from ip's rate budget on the public routes.
func (c *Collector) Allow(ip netip.Addr) bool {
	if c.limiter == nil {
		return true
	}
	now := c.o.Now()
	pair, err := c.salts.at(now)
	if err != nil {
		return true
	}
	ok := c.limiter.allow(hashIP(pair.today, ip), now)
	if !ok {
		c.metrics.dropped.WithLabelValues("rate_limited").Inc()
	}
	return ok
}

// Hit is one event as it arrived.
type Hit struct {
	Input     event.Input
	Source    event.Source
	IP        netip.Addr
	UserAgent string
	// Time is when the client says the event happened (trusted API
	// clients only); zero means now.
	Time time.Time
}

// Result is what became of an accepted Hit.
type Result struct {
	Event     event.Event
	Duplicate bool // counted already within the window: not stored
}

// ErrQueueFull refuses an event the batch writer has no room for.
var ErrQueueFull = errors.New("the event queue is full; try again shortly")

// Ingest validates a hit and queues it for storage. Duplicates are
// answered without error and not stored; bots are stored with their reason.
//
// Events from the authenticated API come from the integrator's servers,
// not from the person, so neither bot detection nor per-address dedup
// applies to them.
func (c *Collector) Ingest(h Hit) (Result, error) {
	source := h.Source.String()
	c.metrics.received.WithLabelValues(source).Inc()
	e, err := h.Input.Event()
	if err != nil {
		c.metrics.dropped.WithLabelValues("invalid").Inc()
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
	e.Visitor = hashVisitor(pair.today, ip, h.UserAgent)
	if cc := iploc.IPCountry(ip); cc != "ZZ" {
		e.Country = cc
	}
	if h.Source != event.API {
		a := c.agents.classify(h.UserAgent)
		e.Browser, e.OS, e.Device, e.Bot = a.Browser, a.OS, a.Device, a.Bot
		if e.Bot == event.NotBot && c.duplicate(pair, &e, ip, now) {
			c.metrics.dropped.WithLabelValues("duplicate").Inc()
			return Result{Event: e, Duplicate: true}, nil
		}
	}
	e.ID, err = uuid.NewV7()
	if err != nil {
		return Result{}, fmt.Errorf("cannot make an event id: %w", err)
	}
	if !c.batcher.TryPush(e) {
		c.metrics.dropped.WithLabelValues("queue_full").Inc()
		return Result{}, ErrQueueFull
	}
	c.metrics.accepted.WithLabelValues(source, e.Bot.String()).Inc()
	return Result{Event: e}, nil
}

// duplicate reports whether the same action from the same address was
// counted within the window, and records it if not. The key is keyed with
// the day's salt; yesterday's key is looked up too, since the window
// crosses midnight.
func (c *Collector) duplicate(pair *saltPair, e *event.Event, ip netip.Addr, now time.Time) bool {
	if c.dedup.Contains(dedupKey(pair.yesterday, e, ip), now) {
		return true
	}
	return c.dedup.Seen(dedupKey(pair.today, e, ip), now)
}

func dedupKey(k saltKey, e *event.Event, ip netip.Addr) uint64 {
	var buf [event.MaxIDLen + 20]byte
	b := append(buf[:0], e.Credential...)
	b = append(b, 0, byte(e.Type), byte(e.Network))
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
	return siphash.Hash(k[0], k[1], b)
}

func hashIP(k saltKey, ip netip.Addr) uint64 {
	a := ip.As16()
	return siphash.Hash(k[0]^1, k[1], a[:])
}

// QueueLen is the number of events waiting for the batch writer.
func (c *Collector) QueueLen() int { return c.batcher.Len() }
