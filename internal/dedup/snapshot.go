package dedup

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// A snapshot is, little-endian throughout:
//
//	header:  "CSDEDUP1", version uint32, window seconds uint32, shard count uint32
//	per shard, in shard order: key count uint32, then (key uint64, time uint32)
//	         pairs from oldest to newest
//	trailer: CRC-32C (Castagnoli) of all preceding bytes, uint32
//
// Counts are per shard because each shard is copied under its own lock, so the
// total is not known when the header is written.
const (
	snapshotMagic     = "CSDEDUP1"
	snapshotVersion   = 1
	headerSize        = len(snapshotMagic) + 12
	entrySize         = 12
	chunkEntries      = 4096
	maxSnapshotShards = 1 << 16
)

// ErrCorrupt is wrapped by the errors of ReadFrom and Load for snapshots that
// are truncated, fail their checksum or are not dedup snapshots at all.
var ErrCorrupt = errors.New("corrupt snapshot")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type entry struct {
	key  uint64
	time uint32
}

// WriteTo writes a snapshot of every key the set holds, expired or not, in
// recording order. Save leaves out expired keys.
func (s *Set) WriteTo(w io.Writer) (int64, error) {
	n, err := s.writeTo(w, 0, false)
	if err != nil {
		return n, fmt.Errorf("cannot write dedup snapshot: %w", err)
	}
	return n, nil
}

// ReadFrom replaces the contents of the set with a snapshot written by
// WriteTo or Save. It keeps every key of the snapshot, expired or not: expired
// keys are never reported by Seen or Contains and are dropped as the set goes
// (Load drops them on reading). If the snapshot holds more keys than the set
// can, the oldest are evicted. On error the set is left unchanged.
func (s *Set) ReadFrom(r io.Reader) (int64, error) {
	n, err := s.readFrom(r, 0, false)
	if err != nil {
		return n, fmt.Errorf("cannot read dedup snapshot: %w", err)
	}
	return n, nil
}

// Save writes the keys that are live at now to path atomically: to a
// temporary file in the same directory, synced, then renamed over path.
func (s *Set) Save(path string, now time.Time) error {
	if err := s.save(path, seconds(now)); err != nil {
		return fmt.Errorf("cannot save dedup snapshot %s: %w", path, err)
	}
	return nil
}

// Load replaces the contents of the set with the keys of the snapshot at path
// that are live at now. A missing file is not an error and leaves the set as
// it is; so does a corrupt one, whose error names path and wraps ErrCorrupt.
func (s *Set) Load(path string, now time.Time) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot load dedup snapshot: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	if _, err := s.readFrom(br, seconds(now), true); err != nil {
		return fmt.Errorf("cannot load dedup snapshot %s: %w", path, err)
	}
	return nil
}

func (s *Set) save(path string, now uint32) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if _, err := s.writeTo(bw, now, true); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// The rename itself is durable only once the directory is synced.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *Set) writeTo(w io.Writer, now uint32, onlyLive bool) (int64, error) {
	hw := &hashWriter{w: w, crc: crc32.New(castagnoli)}
	buf := make([]byte, 0, headerSize)
	buf = append(buf, snapshotMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, snapshotVersion)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(s.window))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(s.shards)))
	if _, err := hw.Write(buf); err != nil {
		return hw.n, err
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		buf = sh.appendSnapshot(buf[:0], now, s.window, onlyLive)
		sh.mu.Unlock()
		if _, err := hw.Write(buf); err != nil {
			return hw.n, err
		}
	}
	sum := binary.LittleEndian.AppendUint32(buf[:0], hw.crc.Sum32())
	n, err := w.Write(sum)
	return hw.n + int64(n), err
}

func (sh *shard) appendSnapshot(buf []byte, now uint32, window int64, onlyLive bool) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0)
	var n uint32
	for j := range sh.ring.n {
		r := sh.ring.head + j
		if r >= len(sh.ring.keys) {
			r -= len(sh.ring.keys)
		}
		k, t := sh.ring.keys[r], sh.ring.times[r]
		if onlyLive && !live(t, now, window) {
			continue
		}
		if i, ok := sh.find(k); !ok || sh.times[i] != t {
			continue
		}
		buf = binary.LittleEndian.AppendUint64(buf, k)
		buf = binary.LittleEndian.AppendUint32(buf, t)
		n++
	}
	binary.LittleEndian.PutUint32(buf[start:], n)
	return buf
}

func (s *Set) readFrom(r io.Reader, now uint32, onlyLive bool) (int64, error) {
	cr := &countingReader{r: r}
	crc := crc32.New(castagnoli)
	tr := io.TeeReader(cr, crc)
	buf := make([]byte, chunkEntries*entrySize)
	if _, err := io.ReadFull(tr, buf[:headerSize]); err != nil {
		return cr.n, readError(err)
	}
	if string(buf[:len(snapshotMagic)]) != snapshotMagic {
		return cr.n, fmt.Errorf("%w: not a dedup snapshot", ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(buf[8:]); v != snapshotVersion {
		return cr.n, fmt.Errorf("%w: unsupported version %d", ErrCorrupt, v)
	}
	shards := binary.LittleEndian.Uint32(buf[16:])
	if shards == 0 || shards > maxSnapshotShards {
		return cr.n, fmt.Errorf("%w: %d shards", ErrCorrupt, shards)
	}
	var entries []entry
	for range shards {
		if _, err := io.ReadFull(tr, buf[:4]); err != nil {
			return cr.n, readError(err)
		}
		// Entries are read in chunks so that a corrupt count cannot allocate
		// more than the data actually present.
		for left := int(binary.LittleEndian.Uint32(buf)); left > 0; {
			m := min(left, chunkEntries)
			if _, err := io.ReadFull(tr, buf[:m*entrySize]); err != nil {
				return cr.n, readError(err)
			}
			for p := buf[:m*entrySize]; len(p) > 0; p = p[entrySize:] {
				e := entry{key: binary.LittleEndian.Uint64(p), time: binary.LittleEndian.Uint32(p[8:])}
				if e.key == 0 {
					return cr.n, fmt.Errorf("%w: empty key", ErrCorrupt)
				}
				if onlyLive && !live(e.time, now, s.window) {
					continue
				}
				entries = append(entries, e)
			}
			left -= m
		}
	}
	want := crc.Sum32()
	if _, err := io.ReadFull(cr, buf[:4]); err != nil {
		return cr.n, readError(err)
	}
	if binary.LittleEndian.Uint32(buf) != want {
		return cr.n, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	if onlyLive {
		// Load owns the whole file, so anything after the trailer is damage.
		if _, err := io.ReadFull(cr, buf[:1]); err != io.EOF {
			return cr.n, fmt.Errorf("%w: trailing data", ErrCorrupt)
		}
	}
	if int(shards) != len(s.shards) {
		// Each section is in recording order, but with another shard count
		// the sections interleave in this set's shards.
		slices.SortStableFunc(entries, func(a, b entry) int { return cmp.Compare(a.time, b.time) })
	}
	s.replace(entries)
	return cr.n, nil
}

func (s *Set) replace(entries []entry) {
	for i := range s.shards {
		s.shards[i].mu.Lock()
		s.shards[i].reset()
	}
	for _, e := range entries {
		s.shard(e.key).restore(e.key, e.time)
	}
	for i := range s.shards {
		s.shards[i].mu.Unlock()
	}
}

func readError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	return err
}

type hashWriter struct {
	w   io.Writer
	crc hash.Hash32
	n   int64
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.crc.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += int64(n)
	return n, err
}
