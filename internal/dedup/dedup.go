// Package dedup remembers which keys were counted within a sliding window, in
// bounded memory, so that each key counts at most once per window.
//
// The window of a key starts at its first counted occurrence, so keys expire in
// the order they were recorded. Each shard therefore keeps an open-addressing
// hash table (key and record time) for lookups and a FIFO ring of the same
// pairs for expiry and eviction. A full set costs about 30 bytes per key.
package dedup

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultWindow is the dedup window when Options.Window is zero.
	DefaultWindow = 24 * time.Hour
	// DefaultMaxKeys is the memory bound when Options.MaxKeys is zero.
	DefaultMaxKeys = 4_000_000

	maxShards         = 64
	minKeysPerShard   = 1024
	maxLoad           = 0.7
	zeroKeyStandIn    = 0x9e3779b97f4a7c15
	maxWindowSeconds  = math.MaxUint32
	minWindowDuration = time.Second
)

// Options configures a Set. Zero values select the defaults.
type Options struct {
	// Window is how long a recorded key stays live. It is counted in whole
	// seconds: shorter windows become one second.
	Window time.Duration
	// MaxKeys bounds how many keys the set holds; all memory is allocated by
	// New. When the set is full, the oldest key is evicted.
	MaxKeys int
	// Shards splits the set so that concurrent callers rarely share a lock.
	// Zero picks up to 64 shards, fewer for small sets so that each shard holds
	// at least 1024 keys. MaxKeys is split across shards and eviction is oldest
	// first within a shard, so a shard may evict shortly before the whole set
	// holds MaxKeys keys.
	Shards int
}

func (o Options) withDefaults() Options {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	o.Window = o.Window.Truncate(time.Second)
	o.Window = max(o.Window, minWindowDuration)
	o.Window = min(o.Window, maxWindowSeconds*time.Second)
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Shards <= 0 {
		o.Shards = maxShards
		for o.Shards > 1 && o.MaxKeys/o.Shards < minKeysPerShard {
			o.Shards /= 2
		}
	}
	o.Shards = min(o.Shards, o.MaxKeys)
	return o
}

// Set is a bounded set of keys that each stay live for one window after they
// were recorded. It is safe for concurrent use.
type Set struct {
	window int64 // seconds
	shards []shard
}

type shard struct {
	mu    sync.Mutex
	keys  []uint64 // 0 marks an empty slot
	times []uint32 // unix seconds
	count int
	ring  ring
	// evictions is read without the lock by Set.Evictions.
	evictions atomic.Uint64
	// The padding keeps neighbouring shards' locks off shared cache lines.
	_ [64]byte
}

// ring holds (key, time) pairs in the order they were recorded. An entry whose
// time no longer matches the table is stale: the key was recorded again after
// its window ended, and the entry is skipped when it reaches the front.
type ring struct {
	keys  []uint64
	times []uint32
	head  int
	n     int
}

// New returns an empty set with all of its memory allocated.
func New(o Options) *Set {
	o = o.withDefaults()
	s := &Set{
		window: int64(o.Window / time.Second),
		shards: make([]shard, o.Shards),
	}
	for i := range s.shards {
		size := o.MaxKeys / o.Shards
		if i < o.MaxKeys%o.Shards {
			size++
		}
		// The table is strictly larger than the ring so that probing always
		// reaches an empty slot.
		slots := max(size+1, int(math.Ceil(float64(size)/maxLoad)))
		sh := &s.shards[i]
		sh.keys = make([]uint64, slots)
		sh.times = make([]uint32, slots)
		sh.ring.keys = make([]uint64, size)
		sh.ring.times = make([]uint32, size)
	}
	return s
}

// Seen reports whether key was recorded within the window before now. If not,
// it records key at now and returns false. A key recorded at t is live until
// t+Window, exclusive: a hit exactly one window later counts again.
//
// A clock that steps back is tolerated: a key recorded up to one window in the
// future of now is live, and one recorded further ahead is treated as expired
// so that a clock corrected after a large forward jump does not block keys for
// the size of the jump.
func (s *Set) Seen(key uint64, now time.Time) bool {
	k := remap(key)
	sh := s.shard(k)
	t := seconds(now)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.expire(t, s.window)
	i, ok := sh.find(k)
	if ok {
		if live(sh.times[i], t, s.window) {
			return true
		}
		// The key expired but sits behind a live key at the ring front, which
		// happens only after the clock stepped back.
		sh.times[i] = t
		sh.push(k, t)
		return false
	}
	sh.push(k, t)
	sh.insert(k, t)
	return false
}

// Forget undoes Seen(key, now) for a key whose event was refused after it
// was recorded, so that the client's retry counts. A key recorded at
// another time is left alone. Its ring entry turns stale and is skipped.
func (s *Set) Forget(key uint64, now time.Time) {
	k := remap(key)
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, ok := sh.find(k); ok && sh.times[i] == seconds(now) {
		sh.remove(i)
	}
}

// Contains reports whether key is live at now, without recording it.
func (s *Set) Contains(key uint64, now time.Time) bool {
	k := remap(key)
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, ok := sh.find(k)
	return ok && live(sh.times[i], seconds(now), s.window)
}

// Len returns how many keys the set holds, including expired keys that have
// not been dropped yet (see Expire).
func (s *Set) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.count
		sh.mu.Unlock()
	}
	return n
}

// Evictions returns how many keys were dropped before their window ended
// because the set was full.
func (s *Set) Evictions() uint64 {
	var n uint64
	for i := range s.shards {
		n += s.shards[i].evictions.Load()
	}
	return n
}

// Expire drops the keys that expired at now and returns how many it dropped.
// Seen already drops expired keys as it goes; Expire frees them in shards that
// see no traffic. After the clock stepped back, a few expired keys may stay
// until the keys recorded before them expire.
func (s *Set) Expire(now time.Time) int {
	t := seconds(now)
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.expire(t, s.window)
		sh.mu.Unlock()
	}
	return n
}

func (s *Set) shard(k uint64) *shard {
	// The shard comes from the low bits and the table slot from the high bits,
	// so the keys of one shard still spread over its whole table.
	i := uint64(uint32(k)) * uint64(len(s.shards)) >> 32
	return &s.shards[i]
}

// remap moves key 0, which marks empty slots, to a stand-in; the stand-in
// collides with a real key with probability 2^-64.
func remap(key uint64) uint64 {
	if key == 0 {
		return zeroKeyStandIn
	}
	return key
}

func seconds(now time.Time) uint32 {
	return uint32(min(max(now.Unix(), 0), math.MaxUint32))
}

func live(recorded, now uint32, window int64) bool {
	d := int64(now) - int64(recorded)
	return d < window && d > -window
}

func (sh *shard) home(k uint64) int {
	hi, _ := bits.Mul64(k, uint64(len(sh.keys)))
	return int(hi)
}

func (sh *shard) next(i int) int {
	i++
	if i == len(sh.keys) {
		return 0
	}
	return i
}

// find returns the slot holding k, or the empty slot where k would go.
func (sh *shard) find(k uint64) (int, bool) {
	for i := sh.home(k); ; i = sh.next(i) {
		switch sh.keys[i] {
		case k:
			return i, true
		case 0:
			return i, false
		}
	}
}

func (sh *shard) insert(k uint64, t uint32) {
	i, _ := sh.find(k)
	sh.keys[i] = k
	sh.times[i] = t
	sh.count++
}

// remove empties slot i and shifts later keys of the same cluster back, so
// that no lookup ever stops early at the hole.
func (sh *shard) remove(i int) {
	for j := sh.next(i); sh.keys[j] != 0; j = sh.next(j) {
		h := sh.home(sh.keys[j])
		// A key whose home lies cyclically in (i, j] cannot move back to i.
		if i <= j {
			if i < h && h <= j {
				continue
			}
		} else if i < h || h <= j {
			continue
		}
		sh.keys[i] = sh.keys[j]
		sh.times[i] = sh.times[j]
		i = j
	}
	sh.keys[i] = 0
	sh.times[i] = 0
	sh.count--
}

// dropFront pops the oldest ring entry and removes its key from the table
// unless the entry is stale; it reports whether a key was removed.
func (sh *shard) dropFront() bool {
	k, t := sh.ring.keys[sh.ring.head], sh.ring.times[sh.ring.head]
	sh.ring.head++
	if sh.ring.head == len(sh.ring.keys) {
		sh.ring.head = 0
	}
	sh.ring.n--
	if i, ok := sh.find(k); ok && sh.times[i] == t {
		sh.remove(i)
		return true
	}
	return false
}

func (sh *shard) expire(now uint32, window int64) int {
	n := 0
	for sh.ring.n > 0 && !live(sh.ring.times[sh.ring.head], now, window) {
		if sh.dropFront() {
			n++
		}
	}
	return n
}

// push appends (k, t) to the ring, evicting the oldest key if the ring is
// full. Seen expires first, so the key evicted here is still live.
func (sh *shard) push(k uint64, t uint32) {
	if sh.ring.n == len(sh.ring.keys) && sh.dropFront() {
		sh.evictions.Add(1)
	}
	i := sh.ring.head + sh.ring.n
	if i >= len(sh.ring.keys) {
		i -= len(sh.ring.keys)
	}
	sh.ring.keys[i] = k
	sh.ring.times[i] = t
	sh.ring.n++
}

// restore records k at t as read from a snapshot. No set writes a key at two
// times; for a snapshot that does, the newest time wins, so that the ring
// entries the key leaves behind never match it again.
func (sh *shard) restore(k uint64, t uint32) {
	i, ok := sh.find(k)
	if !ok {
		sh.push(k, t)
		sh.insert(k, t)
		return
	}
	if t > sh.times[i] {
		sh.times[i] = t
		sh.push(k, t)
	}
}

func (sh *shard) reset() {
	clear(sh.keys)
	clear(sh.times)
	sh.count = 0
	sh.ring.head = 0
	sh.ring.n = 0
}
