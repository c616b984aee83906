package dedup_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credstats/credstats/internal/dedup"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// mix spreads consecutive integers over uint64 like the caller's keyed hash
// does (splitmix64 finalizer).
func mix(i uint64) uint64 {
	z := i + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func TestSeenWindow(t *testing.T) {
	type hit struct {
		at   time.Duration
		want bool
	}
	f := func(name string, hits ...hit) {
		t.Run(name, func(t *testing.T) {
			s := dedup.New(dedup.Options{MaxKeys: 1000})
			for i, h := range hits {
				if got := s.Seen(42, t0.Add(h.at)); got != h.want {
					t.Fatalf("hit %d at %v: Seen = %v, want %v", i, h.at, got, h.want)
				}
			}
			if err := s.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
	const day = 24 * time.Hour
	f("first counts, repeat is a duplicate",
		hit{0, false}, hit{0, true}, hit{time.Second, true})
	f("last second of the window is a duplicate",
		hit{0, false}, hit{day - time.Second, true})
	f("exactly one window later counts again",
		hit{0, false}, hit{day, false}, hit{day, true})
	f("one window and a second later counts again",
		hit{0, false}, hit{day + time.Second, false}, hit{day + time.Second, true})
	f("window slides from the first counted hit",
		hit{0, false}, hit{23 * time.Hour, true}, hit{day, false},
		hit{day + 23*time.Hour, true}, hit{2 * day, false})
	f("sub-second times count in whole seconds",
		hit{500 * time.Millisecond, false}, hit{day, false})
	f("clock a little behind is still a duplicate",
		hit{time.Minute, false}, hit{0, true}, hit{-23 * time.Hour, true})
	f("key recorded more than a window ahead is expired",
		hit{3 * day, false}, hit{0, false}, hit{time.Hour, true}, hit{3 * day, false})
}

func TestKeyZero(t *testing.T) {
	s := dedup.New(dedup.Options{MaxKeys: 1000})
	if s.Contains(0, t0) || s.Seen(0, t0) {
		t.Fatal("key 0 live in an empty set")
	}
	if !s.Seen(0, t0) || !s.Contains(0, t0) || s.Len() != 1 {
		t.Fatalf("key 0 not recorded: Len = %d", s.Len())
	}
}

func TestContainsDoesNotRecord(t *testing.T) {
	s := dedup.New(dedup.Options{MaxKeys: 1000})
	if s.Contains(7, t0) || s.Contains(7, t0) || s.Len() != 0 {
		t.Fatal("Contains recorded the key")
	}
	s.Seen(7, t0)
	f := func(at time.Duration, want bool) {
		t.Helper()
		if got := s.Contains(7, t0.Add(at)); got != want {
			t.Errorf("Contains at %v = %v, want %v", at, got, want)
		}
	}
	f(0, true)
	f(24*time.Hour-time.Second, true)
	f(24*time.Hour, false)
}

func TestBound(t *testing.T) {
	const maxKeys = 100
	s := dedup.New(dedup.Options{MaxKeys: maxKeys})
	for i := range uint64(250) {
		s.Seen(i+1, t0.Add(time.Duration(i)*time.Second))
		if n := s.Len(); n > maxKeys {
			t.Fatalf("after %d keys Len = %d, want at most %d", i+1, n, maxKeys)
		}
	}
	if got := s.Evictions(); got != 150 {
		t.Errorf("Evictions = %d, want 150", got)
	}
	now := t0.Add(250 * time.Second)
	for k := uint64(1); k <= 250; k++ {
		if want := k > 150; s.Contains(k, now) != want {
			t.Errorf("Contains(%d) = %v, want %v: the oldest keys go first", k, !want, want)
		}
	}
	// An evicted key counts again: the bound trades memory for a recount.
	if s.Seen(1, now) {
		t.Error("evicted key reported as seen")
	}
	if err := s.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestBoundSharded(t *testing.T) {
	const maxKeys = 10_000
	s := dedup.New(dedup.Options{MaxKeys: maxKeys, Shards: 16})
	for i := range uint64(50_000) {
		s.Seen(mix(i), t0)
	}
	if n := s.Len(); n > maxKeys || n < maxKeys*9/10 {
		t.Errorf("Len = %d, want at most %d and close to it", n, maxKeys)
	}
	if got, want := s.Evictions(), uint64(50_000-s.Len()); got != want {
		t.Errorf("Evictions = %d, want %d", got, want)
	}
	if err := s.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestExpiredKeysAreNotEvictions(t *testing.T) {
	s := dedup.New(dedup.Options{MaxKeys: 100, Window: time.Hour})
	for i := range uint64(100) {
		s.Seen(i+1, t0)
	}
	for i := range uint64(100) {
		if s.Seen(i+1000, t0.Add(time.Hour)) {
			t.Fatal("new key reported as seen")
		}
	}
	if s.Evictions() != 0 || s.Len() != 100 {
		t.Errorf("Evictions = %d, Len = %d, want 0 and 100", s.Evictions(), s.Len())
	}
}

// TestStaleEntriesAreNotEvictions steps the clock back so that a key is
// recorded again while its old ring entry is still queued, then fills the set:
// dropping the old entry frees room without evicting anyone.
func TestStaleEntriesAreNotEvictions(t *testing.T) {
	const a, b, c, d = 1, 2, 3, 4
	s := dedup.New(dedup.Options{MaxKeys: 3, Window: time.Hour})
	at := func(hhmm int) time.Time {
		return t0.Add(time.Duration(hhmm/100)*time.Hour + time.Duration(hhmm%100)*time.Minute)
	}
	f := func(key uint64, hhmm int, want bool, evictions uint64) {
		t.Helper()
		if got := s.Seen(key, at(hhmm)); got != want {
			t.Fatalf("Seen(%d) at %04d = %v, want %v", key, hhmm, got, want)
		}
		if got := s.Evictions(); got != evictions {
			t.Fatalf("after Seen(%d) at %04d Evictions = %d, want %d", key, hhmm, got, evictions)
		}
		if err := s.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	}
	f(a, 1000, false, 0)
	f(b, 930, false, 0)
	f(b, 1045, false, 0) // b expired behind the live a and is recorded again
	f(c, 1050, false, 1) // the set is full: a is evicted
	f(d, 945, false, 1)  // the set is full: b's stale entry makes room
	for _, k := range []uint64{b, c, d} {
		if !s.Contains(k, at(1030)) {
			t.Errorf("key %d missing", k)
		}
	}
}

func TestExpire(t *testing.T) {
	s := dedup.New(dedup.Options{Window: time.Hour, Shards: 4, MaxKeys: 1000})
	for i := range uint64(300) {
		s.Seen(mix(i), t0.Add(time.Duration(i)*time.Minute/10))
	}
	f := func(at time.Duration, dropped, left int) {
		t.Helper()
		if got := s.Expire(t0.Add(at)); got != dropped {
			t.Errorf("Expire at %v = %d, want %d", at, got, dropped)
		}
		if got := s.Len(); got != left {
			t.Errorf("Len after Expire at %v = %d, want %d", at, got, left)
		}
	}
	f(59*time.Minute, 0, 300)
	f(time.Hour, 1, 299)
	f(time.Hour+10*time.Minute, 100, 199)
	f(2*time.Hour, 199, 0)
	f(3*time.Hour, 0, 0)
}

// TestAgainstMap checks Seen, Contains, Expire and Len against a plain map on
// long random runs. The sets are large enough never to evict and small enough
// that the tables run near their load limit, so clusters wrap around the table
// end and deletions shift keys back often.
func TestAgainstMap(t *testing.T) {
	f := func(name string, o dedup.Options, pool int, seed uint64) {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(pool)))
			keys := make([]uint64, pool)
			for i := range keys {
				keys[i] = rng.Uint64()
			}
			window := int64(o.Window / time.Second)
			s := dedup.New(o)
			recorded := make(map[uint64]int64)
			isLive := func(k uint64, now int64) bool {
				at, ok := recorded[k]
				return ok && now-at < window
			}
			now := t0.Unix()
			for op := range 50_000 {
				now += rng.Int64N(window / 20)
				at := time.Unix(now, 0)
				k := keys[rng.IntN(len(keys))]
				switch r := rng.IntN(100); {
				case r < 90:
					want := isLive(k, now)
					if !want {
						recorded[k] = now
					}
					if got := s.Seen(k, at); got != want {
						t.Fatalf("op %d: Seen(%#x) = %v, want %v", op, k, got, want)
					}
				case r < 97:
					if got, want := s.Contains(k, at), isLive(k, now); got != want {
						t.Fatalf("op %d: Contains(%#x) = %v, want %v", op, k, got, want)
					}
				default:
					s.Expire(at)
					live := 0
					for k := range recorded {
						if isLive(k, now) {
							live++
						}
					}
					if got := s.Len(); got != live {
						t.Fatalf("op %d: Len after Expire = %d, want %d", op, got, live)
					}
				}
				if op%5000 == 0 {
					if err := s.CheckInvariants(); err != nil {
						t.Fatalf("op %d: %v", op, err)
					}
				}
			}
			if err := s.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
			if s.Evictions() != 0 {
				t.Fatalf("Evictions = %d: the test needs a set that never evicts", s.Evictions())
			}
		})
	}
	for seed := range uint64(10) {
		f(fmt.Sprintf("tiny table %d", seed), dedup.Options{Window: 100 * time.Second, MaxKeys: 7}, 7, seed)
		f(fmt.Sprintf("small table %d", seed), dedup.Options{Window: 100 * time.Second, MaxKeys: 30}, 30, seed)
	}
	f("one shard", dedup.Options{Window: 100 * time.Second, MaxKeys: 1000}, 990, 1)
	f("four shards", dedup.Options{Window: 100 * time.Second, MaxKeys: 4000, Shards: 4}, 2000, 1)
}

// TestClockChaos feeds times that jump both ways and checks that the
// structure holds and the bound is kept.
func TestClockChaos(t *testing.T) {
	const maxKeys = 500
	rng := rand.New(rand.NewPCG(2, 3))
	s := dedup.New(dedup.Options{Window: time.Hour, MaxKeys: maxKeys, Shards: 2})
	now := t0
	for op := range 100_000 {
		switch r := rng.IntN(1000); {
		case r == 0:
			now = now.Add(-time.Duration(rng.IntN(72)) * time.Hour)
		case r == 1:
			now = now.Add(time.Duration(rng.IntN(72)) * time.Hour)
		case r < 300:
			now = now.Add(-time.Duration(rng.IntN(600)) * time.Second)
		default:
			now = now.Add(time.Duration(rng.IntN(60)) * time.Second)
		}
		k := uint64(rng.IntN(2000))
		if rng.IntN(20) == 0 {
			s.Expire(now)
		} else {
			s.Seen(k, now)
		}
		if s.Len() > maxKeys {
			t.Fatalf("op %d: Len = %d", op, s.Len())
		}
		if op%1000 == 0 {
			if err := s.CheckInvariants(); err != nil {
				t.Fatalf("op %d: %v", op, err)
			}
		}
	}
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r := dedup.New(dedup.Options{Window: time.Hour, MaxKeys: maxKeys, Shards: 2})
	if _, err := r.ReadFrom(&buf); err != nil {
		t.Fatal(err)
	}
	if err := r.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if r.Len() != s.Len() {
		t.Fatalf("restored Len = %d, want %d", r.Len(), s.Len())
	}
}

func TestWriteToReadFrom(t *testing.T) {
	s := dedup.New(dedup.Options{MaxKeys: 10_000, Shards: 8})
	for i := range uint64(5000) {
		s.Seen(mix(i), t0.Add(time.Duration(i)*time.Second))
	}
	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo = %d, wrote %d bytes", n, buf.Len())
	}
	data := buf.Bytes()
	f := func(name string, o dedup.Options, wantLen int) {
		t.Run(name, func(t *testing.T) {
			r := dedup.New(o)
			r.Seen(mix(99_999), t0)
			n, err := r.ReadFrom(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(data)) {
				t.Errorf("ReadFrom = %d, want %d", n, len(data))
			}
			if r.Len() != wantLen {
				t.Errorf("Len = %d, want %d", r.Len(), wantLen)
			}
			if r.Contains(mix(99_999), t0) {
				t.Error("ReadFrom kept a key that was not in the snapshot")
			}
			if !r.Contains(mix(4999), t0.Add(5000*time.Second)) {
				t.Error("newest key missing")
			}
			// ReadFrom has no clock, so it keeps keys that have expired since,
			// and they are not reported.
			if later := t0.Add(24 * time.Hour); r.Contains(mix(0), later) || !r.Contains(mix(4999), later) {
				t.Error("keys restored with the wrong times")
			}
			if err := r.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
	f("same shape", dedup.Options{MaxKeys: 10_000, Shards: 8}, 5000)
	f("other shard count", dedup.Options{MaxKeys: 10_000, Shards: 3}, 5000)
	t.Run("smaller set keeps the newest", func(t *testing.T) {
		r := dedup.New(dedup.Options{MaxKeys: 1000})
		if _, err := r.ReadFrom(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(5000 * time.Second)
		if r.Len() != 1000 || !r.Contains(mix(4000), now) || r.Contains(mix(3999), now) {
			t.Errorf("Len = %d, want the newest 1000 keys", r.Len())
		}
	})
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dedup.snap")
	s := dedup.New(dedup.Options{MaxKeys: 1000})
	old, fresh := mix(1), mix(2)
	s.Seen(old, t0)
	s.Seen(fresh, t0.Add(12*time.Hour))
	if err := s.Save(path, t0.Add(12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Saving again replaces the file and leaves no temporary files behind.
	if err := s.Save(path, t0.Add(12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 1 {
		t.Errorf("directory holds %v, want only the snapshot", names)
	}

	later := t0.Add(30 * time.Hour)
	r := dedup.New(dedup.Options{MaxKeys: 1000})
	if err := r.Load(path, later); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 1 || r.Contains(old, later) || !r.Contains(fresh, later) {
		t.Errorf("after Load Len = %d, want only the key still live", r.Len())
	}
	if !r.Seen(fresh, later) || r.Seen(fresh, t0.Add(36*time.Hour)) {
		t.Error("restored key does not keep its original window")
	}
}

func TestLoadMissing(t *testing.T) {
	s := dedup.New(dedup.Options{MaxKeys: 1000})
	if err := s.Load(filepath.Join(t.TempDir(), "nope"), t0); err != nil {
		t.Fatalf("Load of a missing file = %v, want nil", err)
	}
	if s.Len() != 0 {
		t.Fatalf("Len = %d", s.Len())
	}
}

func TestLoadCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.snap")
	s := dedup.New(dedup.Options{MaxKeys: 1000})
	for i := range uint64(100) {
		s.Seen(mix(i), t0)
	}
	if err := s.Save(good, t0); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string, damage func([]byte) []byte) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
			if err := os.WriteFile(path, damage(bytes.Clone(data)), 0o600); err != nil {
				t.Fatal(err)
			}
			r := dedup.New(dedup.Options{MaxKeys: 1000})
			r.Seen(12345, t0)
			err := r.Load(path, t0)
			if !errors.Is(err, dedup.ErrCorrupt) {
				t.Fatalf("Load = %v, want an error wrapping ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if r.Len() != 1 || !r.Contains(12345, t0) {
				t.Errorf("a failed Load changed the set: Len = %d", r.Len())
			}
		})
	}
	flip := func(i int) func([]byte) []byte {
		return func(b []byte) []byte {
			b[i] ^= 0x10
			return b
		}
	}
	f("flipped magic", flip(0))
	f("flipped version", flip(8))
	f("flipped window", flip(12))
	f("flipped shard count", flip(16))
	f("flipped key", flip(len(data)/2))
	f("flipped checksum", flip(len(data)-1))
	f("truncated by one byte", func(b []byte) []byte { return b[:len(b)-1] })
	f("truncated header", func(b []byte) []byte { return b[:10] })
	f("empty", func(b []byte) []byte { return nil })
	f("trailing data", func(b []byte) []byte { return append(b, 0) })
}

func TestConcurrent(t *testing.T) {
	s := dedup.New(dedup.Options{MaxKeys: 5000, Shards: 8})
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 0))
			for i := range 20_000 {
				now := t0.Add(time.Duration(i) * time.Second)
				k := mix(uint64(rng.IntN(20_000)))
				switch rng.IntN(10) {
				case 0:
					s.Contains(k, now)
				case 1:
					s.Len()
					s.Evictions()
				default:
					s.Seen(k, now)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			s.Expire(t0.Add(time.Duration(i) * time.Hour))
			if _, err := s.WriteTo(io.Discard); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if err := s.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentSameKeys has workers race to record the same keys: each key
// must be counted exactly once.
func TestConcurrentSameKeys(t *testing.T) {
	const workers, keys = 8, 2000
	s := dedup.New(dedup.Options{MaxKeys: 10_000, Shards: 4})
	var counted atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for k := range uint64(keys) {
				if !s.Seen(mix(k), t0) {
					counted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if counted.Load() != keys {
		t.Errorf("counted %d, want %d", counted.Load(), keys)
	}
}

func BenchmarkSeen(b *testing.B) {
	const size = 1 << 20
	now := t0
	b.Run("hit", func(b *testing.B) {
		s := dedup.New(dedup.Options{MaxKeys: size})
		keys := make([]uint64, size/2)
		for i := range keys {
			keys[i] = mix(uint64(i))
			s.Seen(keys[i], now)
		}
		for i := 0; b.Loop(); i++ {
			if !s.Seen(keys[i&(len(keys)-1)], now) {
				b.Fatal("miss")
			}
		}
	})
	// Misses on a full set also evict, which is the steady state under a flood
	// of new visitors.
	b.Run("miss", func(b *testing.B) {
		s := dedup.New(dedup.Options{MaxKeys: size})
		for i := range uint64(size) {
			s.Seen(mix(i), now)
		}
		for i := uint64(size); b.Loop(); i++ {
			if s.Seen(mix(i), now) {
				b.Fatal("hit")
			}
		}
	})
}

func BenchmarkSeenParallel(b *testing.B) {
	const size = 1 << 20
	now := t0
	b.Run("hit", func(b *testing.B) {
		s := dedup.New(dedup.Options{MaxKeys: size})
		keys := make([]uint64, size/2)
		for i := range keys {
			keys[i] = mix(uint64(i))
			s.Seen(keys[i], now)
		}
		var seed atomic.Uint64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seed.Add(1) * 7919)
			for pb.Next() {
				s.Seen(keys[i&(len(keys)-1)], now)
				i++
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		s := dedup.New(dedup.Options{MaxKeys: size})
		for i := range uint64(size) {
			s.Seen(mix(i), now)
		}
		var seed atomic.Uint64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := seed.Add(1) << 40
			for pb.Next() {
				s.Seen(mix(i), now)
				i++
			}
		})
	})
}

// BenchmarkMemoryPerKey reports the heap held per live key with one million
// keys: in a set sized for them, and in a default set, which allocates for
// DefaultMaxKeys up front.
func BenchmarkMemoryPerKey(b *testing.B) {
	f := func(name string, o dedup.Options) {
		b.Run(name, func(b *testing.B) {
			var perKey float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				s := dedup.New(o)
				for i := range uint64(1_000_000) {
					s.Seen(mix(i), t0)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perKey = float64(after.HeapAlloc-before.HeapAlloc) / float64(s.Len())
				runtime.KeepAlive(s)
			}
			b.ReportMetric(perKey, "bytes/key")
		})
	}
	f("full", dedup.Options{MaxKeys: 1_000_000})
	f("default", dedup.Options{})
}

func TestForget(t *testing.T) {
	s := dedup.New(dedup.Options{MaxKeys: 2048})
	t0 := time.Unix(1_700_000_000, 0)
	s.Seen(1, t0)
	s.Seen(2, t0)
	s.Forget(1, t0.Add(time.Second)) // recorded at another time: kept
	if !s.Contains(1, t0) {
		t.Fatal("Forget removed a key recorded at another time")
	}
	s.Forget(1, t0)
	if s.Contains(1, t0) || s.Len() != 1 || !s.Contains(2, t0) {
		t.Fatalf("after Forget: contains 1 %v, 2 %v, len %d", s.Contains(1, t0), s.Contains(2, t0), s.Len())
	}
	if s.Seen(1, t0.Add(time.Minute)) {
		t.Fatal("a forgotten key was still a duplicate")
	}
	// The stale ring entry of the forgotten key expires without harm.
	s.Expire(t0.Add(25 * time.Hour))
	if s.Len() != 0 {
		t.Fatalf("%d keys left after every window ended", s.Len())
	}
}
