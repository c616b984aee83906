package dedup_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/credstats/credstats/internal/dedup"
)

// fuzzSet is the shape of every set the fuzz target reads into: small, so
// that snapshots of a few hundred keys evict, and sharded.
var fuzzSet = dedup.Options{MaxKeys: 256, Shards: 4}

var fuzzCRC = crc32.MakeTable(crc32.Castagnoli)

type fuzzEntry struct {
	key  uint64
	time uint32
}

// snapshotEntries decodes a snapshot following the format comment in
// snapshot.go, independently of ReadFrom: its entries in the order they
// apply. ok is false when the snapshot is not intact.
func snapshotEntries(b []byte) (entries []fuzzEntry, ok bool) {
	le := binary.LittleEndian
	if len(b) < 24 || string(b[:8]) != "CSDEDUP1" || le.Uint32(b[8:]) != 1 {
		return nil, false
	}
	shards := le.Uint32(b[16:])
	p := b[20:]
	for range shards {
		if len(p) < 4 {
			return nil, false
		}
		n := uint64(le.Uint32(p))
		p = p[4:]
		if uint64(len(p)) < n*12 {
			return nil, false
		}
		for range n {
			entries = append(entries, fuzzEntry{le.Uint64(p), le.Uint32(p[8:])})
			p = p[12:]
		}
	}
	return entries, len(p) >= 4 && le.Uint32(p) == crc32.Checksum(b[:len(b)-len(p)], fuzzCRC)
}

func snapshot(t testing.TB, s *dedup.Set) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withChecksum replaces the trailer of a snapshot with the right checksum,
// so that the fuzzer gets past it.
func withChecksum(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	body := b[:len(b)-4]
	return binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, fuzzCRC))
}

// FuzzReadFrom reads arbitrary bytes as a snapshot, with their own checksum
// or, when fix is set, with the right one. A snapshot that is refused leaves
// the set as it was; one that is taken leaves a sound set that holds the
// snapshot's keys at their times unless it had to evict, and that writes a
// snapshot which reads back to the same set. Load, which owns the whole file
// and keeps only the keys live at now, must agree.
func FuzzReadFrom(f *testing.F) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := dedup.New(dedup.Options{MaxKeys: 1000, Shards: 4, Window: time.Hour})
	key := func(i uint64) uint64 { return i * 0x9e3779b97f4a7c15 }
	for i := range uint64(40) {
		s.Seen(key(i), t0.Add(time.Duration(i)*time.Minute))
	}
	s.Seen(0, t0) // key 0 is kept under a stand-in
	s.Seen(key(3), t0.Add(3*time.Hour))
	s.Forget(key(5), t0.Add(5*time.Minute))
	four := snapshot(f, s)
	three := dedup.New(dedup.Options{MaxKeys: 100, Shards: 3})
	three.Seen(7, t0)
	three.Seen(8, t0.Add(-time.Minute))
	empty := snapshot(f, dedup.New(dedup.Options{MaxKeys: 10, Shards: 1}))
	now := uint32(t0.Add(30 * time.Minute).Unix())
	for _, b := range [][]byte{four, snapshot(f, three), empty} {
		f.Add(b, false, now)
		f.Add(b[:len(b)-4], true, now)
	}
	f.Add(four[:len(four)/2], true, uint32(0))
	f.Add(append(bytes.Clone(empty), 0), false, now)

	path := filepath.Join(f.TempDir(), "snap")
	f.Fuzz(func(t *testing.T, b []byte, fix bool, now uint32) {
		if fix {
			b = withChecksum(b)
		}
		r := dedup.New(fuzzSet)
		r.Seen(1, time.Unix(1, 0))
		before := snapshot(t, r)
		n, err := r.ReadFrom(bytes.NewReader(b))
		entries, intact := snapshotEntries(b)
		if err != nil {
			if !errors.Is(err, dedup.ErrCorrupt) {
				t.Fatalf("ReadFrom: %v, want an error wrapping ErrCorrupt", err)
			}
			if after := snapshot(t, r); !bytes.Equal(after, before) {
				t.Fatalf("a refused snapshot changed the set: %v", err)
			}
		} else {
			if !intact || n > int64(len(b)) {
				t.Fatalf("ReadFrom took %d of %d bytes of a snapshot that is not intact", n, len(b))
			}
			checkRestored(t, r, entries)
		}
		// Load keeps the live keys; a key recorded at t is live until
		// t+Window, exclusive, and as long before.
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		l := dedup.New(fuzzSet)
		loadErr := l.Load(path, time.Unix(int64(now), 0))
		if whole := err == nil && n == int64(len(b)); (loadErr == nil) != whole {
			t.Fatalf("Load: %v; ReadFrom took %d of %d bytes: %v", loadErr, n, len(b), err)
		}
		if loadErr != nil {
			if !errors.Is(loadErr, dedup.ErrCorrupt) {
				t.Fatalf("Load: %v, want an error wrapping ErrCorrupt", loadErr)
			}
			return
		}
		var live []fuzzEntry
		for _, e := range entries {
			if d := int64(now) - int64(e.time); d < 24*3600 && d > -24*3600 {
				live = append(live, e)
			}
		}
		checkRestored(t, l, live)
	})
}

// checkRestored checks a set that read entries, and that the set's own
// snapshot reads back to the same set.
func checkRestored(t *testing.T, r *dedup.Set, entries []fuzzEntry) {
	t.Helper()
	if err := r.CheckInvariants(); err != nil {
		t.Fatalf("after reading %d entries: %v", len(entries), err)
	}
	// Of a key given twice, the newest time wins.
	final := map[uint64]uint32{}
	for _, e := range entries {
		final[e.key] = max(final[e.key], e.time)
	}
	if r.Len() > len(final) || r.Len() > fuzzSet.MaxKeys {
		t.Fatalf("Len = %d after reading %d keys into a set of %d", r.Len(), len(final), fuzzSet.MaxKeys)
	}
	if r.Evictions() == 0 {
		if r.Len() != len(final) {
			t.Fatalf("Len = %d after reading %d keys without evicting", r.Len(), len(final))
		}
		for k, at := range final {
			if !r.Contains(k, time.Unix(int64(at), 0)) {
				t.Fatalf("key %#x is missing at %d", k, at)
			}
		}
	}
	again := snapshot(t, r)
	r2 := dedup.New(fuzzSet)
	if _, err := r2.ReadFrom(bytes.NewReader(again)); err != nil {
		t.Fatalf("the set's own snapshot does not read back: %v", err)
	}
	if b := snapshot(t, r2); !bytes.Equal(b, again) {
		t.Fatalf("the set's own snapshot reads back to another set:\n%x\n%x", again, b)
	}
}
