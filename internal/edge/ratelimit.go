package edge

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// limiter is a token bucket per client, keyed by a salted hash of the
// client's address. It remembers a bounded number of clients: one that
// falls out of the LRU starts again with a full bucket.
type limiter struct {
	rate   float64 // tokens a second
	burst  float64
	shards [16]limiterShard
}

type limiterShard struct {
	mu  sync.Mutex
	lru *simplelru.LRU[uint64, bucket]
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate float64, burst int, clients int) *limiter {
	l := &limiter{rate: rate, burst: float64(burst)}
	for i := range l.shards {
		l.shards[i].lru, _ = simplelru.NewLRU[uint64, bucket](max(clients/len(l.shards), 1), nil)
	}
	return l
}

// has reports whether key's bucket holds a token, without taking it.
func (l *limiter) has(key uint64, now time.Time) bool {
	sh := &l.shards[key%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.lru.Peek(key)
	return !ok || b.tokens+now.Sub(b.at).Seconds()*l.rate >= 1
}

// allow takes a token from key's bucket; false means the client is over
// its rate.
func (l *limiter) allow(key uint64, now time.Time) bool {
	if l == nil {
		return true
	}
	sh := &l.shards[key%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b, ok := sh.lru.Get(key)
	if !ok {
		b = bucket{tokens: l.burst, at: now}
	}
	if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed*l.rate)
		b.at = now
	}
	ok = b.tokens >= 1
	if ok {
		b.tokens--
	}
	sh.lru.Add(key, b)
	return ok
}
