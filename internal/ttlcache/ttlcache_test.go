package ttlcache_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/credstats/credstats/internal/testutil/fakeclock"
	"github.com/credstats/credstats/internal/ttlcache"
)

func TestExpiryAndBound(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	c := ttlcache.New[string, int](2, clock.Now)
	c.Add("a", 1, time.Second)
	c.Add("b", 2, 3*time.Second)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("a = %d, %v; want 1, true", v, ok)
	}
	clock.Advance(time.Second)
	if _, ok := c.Get("a"); ok {
		t.Fatal("a is still there after its ttl")
	}
	if v, ok := c.Get("b"); !ok || v != 2 {
		t.Fatalf("b = %d, %v; want 2, true", v, ok)
	}
	c.Add("a", 10, time.Second) // Replaces the expired entry with a fresh one.
	if v, ok := c.Get("a"); !ok || v != 10 {
		t.Fatalf("a = %d, %v after re-adding; want 10, true", v, ok)
	}
	c.Add("c", 3, time.Second) // Evicts b, the least recently used.
	if _, ok := c.Get("b"); ok {
		t.Fatal("b survived an add past the bound")
	}
	if n := c.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	c.Purge()
	if _, ok := c.Get("a"); ok {
		t.Fatal("a survived Purge")
	}
}

// The access pattern of hashicorp/golang-lru#181 and of alternating
// shared-link ids: a few keys read by many goroutines and re-added on every
// miss, with lifetimes of a millisecond so that entries expire all the time.
func TestConcurrentReaddsAroundExpiry(t *testing.T) {
	c := ttlcache.New[string, string](4, nil)
	var wg sync.WaitGroup
	stop := time.Now().Add(2 * time.Second)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				k := fmt.Sprintf("%016x", (g+i)%6)
				if v, ok := c.Get(k); ok && v != "v"+k {
					t.Errorf("Get(%s) = %s", k, v)
					return
				}
				c.Add(k, "v"+k, time.Millisecond)
				if i%97 == 0 {
					c.Remove(k)
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 4 {
		t.Fatalf("Len = %d, over the bound of 4", n)
	}
}
