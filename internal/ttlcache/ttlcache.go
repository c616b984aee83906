// Package ttlcache is a bounded LRU cache whose entries expire. Each entry
// carries its own expiry, checked when it is read, so no background
// goroutine walks the cache: golang-lru's expirable LRU has one, and it
// crashes the process when an entry is re-added around its expiry
// (hashicorp/golang-lru#181), which no recover can catch.
package ttlcache

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Cache maps keys to values for a time each. It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	lru *lru.Cache[K, entry[V]]
	now func() time.Time
}

type entry[V any] struct {
	v       V
	expires time.Time
}

// New returns a cache of at most size entries; now is the clock (time.Now
// when nil).
func New[K comparable, V any](size int, now func() time.Time) *Cache[K, V] {
	if now == nil {
		now = time.Now
	}
	c, err := lru.New[K, entry[V]](max(size, 1))
	if err != nil {
		panic(err) // Only for a size below 1, which max rules out.
	}
	return &Cache[K, V]{lru: c, now: now}
}

// Add keeps v under k for ttl, evicting the least recently used entry when
// the cache is full.
func (c *Cache[K, V]) Add(k K, v V, ttl time.Duration) {
	c.lru.Add(k, entry[V]{v: v, expires: c.now().Add(ttl)})
}

// Get returns the value under k while it has not expired. An expired
// entry stays until it is replaced or evicted: removing it here could
// remove a fresh one added meanwhile.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	if e, ok := c.lru.Get(k); ok && c.now().Before(e.expires) {
		return e.v, true
	}
	var zero V
	return zero, false
}

// Remove forgets k.
func (c *Cache[K, V]) Remove(k K) { c.lru.Remove(k) }

// Purge forgets everything.
func (c *Cache[K, V]) Purge() { c.lru.Purge() }

// Len is the number of entries, expired ones included until they are
// replaced or evicted.
func (c *Cache[K, V]) Len() int { return c.lru.Len() }
