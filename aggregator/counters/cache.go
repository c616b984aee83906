package counters

import (
	"context"
	"sync"
	"time"

	"github.com/credstats/credstats/internal/ttlcache"
)

// Cache keeps the public counters so that a popular credential page
// costs ClickHouse one query every few seconds, and answers with the last
// good counters, up to a bound, while ClickHouse cannot.
type Cache struct {
	load    func(ctx context.Context, id string) (Stats, error)
	fresh   time.Duration
	stale   time.Duration
	timeout time.Duration
	now     func() time.Time
	lru     *ttlcache.Cache[string, cachedStats] // entries live for stale

	mu      sync.Mutex
	flights map[string]*flight // refreshes under way, one per credential
}

// CacheOptions size a Cache; the caller fills in the defaults.
type CacheOptions struct {
	Size    int           // how many credentials' counters are kept
	Fresh   time.Duration // an answer younger than this is served as is
	Stale   time.Duration // an older one only while ClickHouse fails, up to this age
	Timeout time.Duration // bound on one refresh
}

type cachedStats struct {
	st      Stats
	at      time.Time // when ClickHouse answered
	checked time.Time // when ClickHouse was last asked
}

type flight struct {
	done chan struct{}
	c    cachedStats
	err  error
}

// NewCache returns a cache that asks load, such as
// Store.CredentialStats, for counters it lacks.
func NewCache(load func(context.Context, string) (Stats, error), o CacheOptions) *Cache {
	c := &Cache{
		load: load, fresh: o.Fresh, stale: o.Stale, timeout: o.Timeout, now: time.Now,
		flights: map[string]*flight{},
	}
	c.lru = ttlcache.New[string, cachedStats](o.Size, func() time.Time { return c.now() })
	return c
}

// Get returns a credential's counters and their age.
func (c *Cache) Get(ctx context.Context, id string) (Stats, time.Duration, error) {
	if e, ok := c.lru.Get(id); ok && c.now().Sub(e.checked) < c.fresh {
		return e.st, c.now().Sub(e.at), nil
	}
	c.mu.Lock()
	f, ok := c.flights[id]
	if !ok {
		f = &flight{done: make(chan struct{})}
		c.flights[id] = f
	}
	c.mu.Unlock()
	if !ok {
		c.refresh(context.WithoutCancel(ctx), id, f)
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return Stats{}, 0, ctx.Err()
	}
	if f.err != nil {
		return Stats{}, 0, f.err
	}
	return f.c.st, c.now().Sub(f.c.at), nil
}

// Forget drops a credential's counters, after an erasure: the next request
// asks ClickHouse.
func (c *Cache) Forget(id string) { c.lru.Remove(id) }

// refresh asks ClickHouse once for every request waiting on the flight.
// Its context is detached from the request that runs it, so a client that
// hangs up does not fail the others; it ends within c.timeout.
func (c *Cache) refresh(ctx context.Context, id string, f *flight) {
	defer func() {
		c.mu.Lock()
		delete(c.flights, id)
		c.mu.Unlock()
		close(f.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	st, err := c.load(ctx, id)
	now := c.now()
	if err == nil {
		f.c = cachedStats{st: st, at: now, checked: now}
		c.lru.Add(id, f.c, c.stale)
		return
	}
	// Serve the last good answer while it is within the bound, and ask
	// ClickHouse again only after another fresh period, so that an outage
	// does not make every request wait for a refresh that fails.
	if e, ok := c.lru.Get(id); ok && now.Sub(e.at) < c.stale {
		e.checked = now
		c.lru.Add(id, e, c.stale-now.Sub(e.at))
		f.c = e
		return
	}
	f.err = err
}
