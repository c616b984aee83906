package counters

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCacheAsksOnceAndServesStale(t *testing.T) {
	var calls atomic.Int32
	var mu sync.Mutex
	fail := false
	release := make(chan struct{})
	load := func(ctx context.Context, id string) (Stats, error) {
		calls.Add(1)
		<-release
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return Stats{}, errors.New("down")
		}
		return Stats{Counts: Counts{Views: uint64(calls.Load())}}, nil
	}
	c := NewCache(load, CacheOptions{Size: 10, Fresh: time.Minute, Stale: time.Hour, Timeout: time.Second})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if st, _, err := c.Get(context.Background(), "a"); err != nil || st.Views != 1 {
				t.Errorf("got %+v, %v", st, err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("%d loads for 20 concurrent requests, want 1", n)
	}
	mu.Lock()
	now, fail = now.Add(2*time.Minute), true
	mu.Unlock()
	if st, age, err := c.Get(context.Background(), "a"); err != nil || st.Views != 1 || age != 2*time.Minute {
		t.Errorf("stale: %+v %v %v", st, age, err)
	}
	if _, _, _ = c.Get(context.Background(), "a"); calls.Load() != 2 {
		t.Errorf("%d loads; after a failure the next fresh period should not ask again", calls.Load())
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if _, _, err := c.Get(context.Background(), "a"); err == nil {
		t.Error("answered past the staleness bound")
	}
}
