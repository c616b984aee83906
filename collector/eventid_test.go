package collector

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestEventIDs(t *testing.T) {
	at := time.UnixMilli(1_764_500_000_123)
	id := newEventID(at)
	if id.Version() != 7 || id.Variant() != uuid.RFC4122 {
		t.Fatalf("%s: version %d, variant %v; want 7, RFC 4122", id, id.Version(), id.Variant())
	}
	if sec, nsec := id.Time().UnixTime(); time.Unix(sec, nsec).UnixMilli() != at.UnixMilli() {
		t.Errorf("%s says %v, want %v", id, time.Unix(sec, nsec), at)
	}
	// Many goroutines in one millisecond, as under load, never share an ID.
	const goroutines, each = 8, 20_000
	ids := make([][]uuid.UUID, goroutines)
	var wg sync.WaitGroup
	for g := range ids {
		wg.Go(func() {
			for range each {
				ids[g] = append(ids[g], newEventID(at))
			}
		})
	}
	wg.Wait()
	seen := make(map[uuid.UUID]bool, goroutines*each)
	for _, list := range ids {
		for _, id := range list {
			if seen[id] {
				t.Fatalf("%s made twice", id)
			}
			seen[id] = true
		}
	}
}

func BenchmarkEventID(b *testing.B) {
	now := time.Now()
	b.Run("own", func(b *testing.B) {
		for b.Loop() {
			newEventID(now)
		}
	})
	b.Run("uuid.NewV7", func(b *testing.B) {
		for b.Loop() {
			uuid.NewV7()
		}
	})
}
