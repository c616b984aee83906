package spool_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/credstats/credstats/internal/spool"
)

// recordHeader and segmentHeader mirror the on-disk format, which the
// damage tests need to aim at.
const (
	recordHeader  = 16
	segmentHeader = 12
)

func open(t testing.TB, o spool.Options) *spool.Spool {
	t.Helper()
	s, err := spool.Open(o)
	if err != nil {
		t.Fatalf("cannot open spool: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// record returns a distinct record whose size varies between 13 and 242 bytes.
func record(i int) []byte {
	return fmt.Appendf(nil, "rec-%06d-%s", i, strings.Repeat("x", i*37%230))
}

func appendAll(t testing.TB, s *spool.Spool, recs ...[]byte) {
	t.Helper()
	if err := s.Append(recs...); err != nil {
		t.Fatalf("cannot append: %v", err)
	}
}

// readAll reads from p to the end with the given limits, checks that every
// call respects them and makes progress, and returns copies of the records
// and the final position.
func readAll(t testing.TB, s *spool.Spool, p spool.Pos, maxRecords, maxBytes int) ([][]byte, spool.Pos) {
	t.Helper()
	var out [][]byte
	for {
		recs, next, err := s.ReadFrom(p, maxRecords, maxBytes)
		if err != nil {
			t.Fatalf("cannot read from %v: %v", p, err)
		}
		if len(recs) == 0 {
			if next != p {
				t.Fatalf("ReadFrom(%v) returned no records but moved to %v", p, next)
			}
			return out, p
		}
		if maxRecords > 0 && len(recs) > maxRecords {
			t.Fatalf("ReadFrom(%v, %d, %d) returned %d records", p, maxRecords, maxBytes, len(recs))
		}
		size := 0
		for _, r := range recs {
			size += recordHeader + len(r)
		}
		if maxBytes > 0 && len(recs) > 1 && size > maxBytes {
			t.Fatalf("ReadFrom(%v, %d, %d) returned %d bytes", p, maxRecords, maxBytes, size)
		}
		if !p.Less(next) {
			t.Fatalf("ReadFrom(%v) returned records but next %v is not after it", p, next)
		}
		for _, r := range recs {
			out = append(out, bytes.Clone(r))
		}
		p = next
	}
}

func checkRecords(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d is %q, want %q", i, got[i], want[i])
		}
	}
}

// positions returns the position of every record from Start on, read one at
// a time, and the position after the last.
func positions(t testing.TB, s *spool.Spool) ([]spool.Pos, spool.Pos) {
	t.Helper()
	var ps []spool.Pos
	p := s.Start()
	for {
		recs, next, err := s.ReadFrom(p, 1, 0)
		if err != nil {
			t.Fatalf("cannot read from %v: %v", p, err)
		}
		if len(recs) == 0 {
			return ps, p
		}
		ps = append(ps, p)
		p = next
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func segmentName(seq uint64) string {
	return fmt.Sprintf("%020d.seg", seq)
}

// copySpool copies the files of a spool, open or not, as a crash would leave
// them, passing each through damage.
func copySpool(t testing.TB, src string, damage func(name string, data []byte) []byte) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "lock" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if damage != nil {
			data = damage(e.Name(), data)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	const segmentSize = 2048
	s := open(t, spool.Options{Dir: dir, SegmentSize: segmentSize})
	var want [][]byte
	for i := 0; i < 400; {
		// Calls carry one to four records, so that multi-record calls roll
		// segments too.
		var recs [][]byte
		for range 1 + i%4 {
			recs = append(recs, record(i))
			i++
		}
		appendAll(t, s, recs...)
		want = append(want, recs...)
	}
	files := segmentFiles(t, dir)
	if len(files) < 10 {
		t.Fatalf("got %d segments, want at least 10", len(files))
	}
	for _, name := range files {
		if fi, err := os.Stat(name); err != nil || fi.Size() > segmentSize {
			t.Fatalf("segment %s: %v, size %d above %d", name, err, fi.Size(), segmentSize)
		}
	}
	if st := s.Stats(); st.Segments != len(files) {
		t.Fatalf("Stats().Segments = %d, want %d", st.Segments, len(files))
	}

	f := func(maxRecords, maxBytes int) {
		t.Helper()
		got, end := readAll(t, s, s.Start(), maxRecords, maxBytes)
		checkRecords(t, got, want)
		if end != s.End() {
			t.Fatalf("reading (%d, %d) ended at %v, want End() %v", maxRecords, maxBytes, end, s.End())
		}
	}
	f(1, 0)
	f(7, 0)
	f(0, 0)
	f(1000, 300)
	f(0, 1) // Every record is larger than maxBytes and comes alone.
	f(3, 1<<20)
	f(400, 1<<20)

	if got, _ := readAll(t, s, spool.Pos{}, 0, 0); len(got) != len(want) {
		t.Fatalf("reading from the zero Pos got %d records, want %d", len(got), len(want))
	}
	ps, end := positions(t, s)
	for _, k := range []int{0, 1, 57, 200, 396, 399} {
		recs, _, err := s.ReadFrom(ps[k], 5, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, recs, want[k:min(k+5, len(want))])
	}

	more := [][]byte{record(1000), record(1001)}
	appendAll(t, s, more...)
	got, _ := readAll(t, s, end, 0, 0)
	checkRecords(t, got, more)
}

func TestAckAndReopen(t *testing.T) {
	dir := t.TempDir()
	o := spool.Options{Dir: dir, SegmentSize: 1024}
	s := open(t, o)
	var want [][]byte
	var total int64
	for i := range 300 {
		appendAll(t, s, record(i))
		want = append(want, record(i))
		total += recordHeader + int64(len(record(i)))
	}
	st := s.Stats()
	if st.Pending != total || st.Bytes != total+int64(st.Segments)*segmentHeader || st.OldestUnacked.IsZero() {
		t.Fatalf("Stats() = %+v, want Pending %d and Bytes %d", st, total, total+int64(st.Segments)*segmentHeader)
	}

	p := s.Start()
	for range 12 {
		_, next, err := s.ReadFrom(p, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		p = next
	}
	before := len(segmentFiles(t, dir))
	if err := s.Ack(p); err != nil {
		t.Fatalf("cannot ack %v: %v", p, err)
	}
	files := segmentFiles(t, dir)
	if len(files) >= before || len(files) != s.Stats().Segments {
		t.Fatalf("Ack left %d of %d segment files, Stats says %d", len(files), before, s.Stats().Segments)
	}
	if first := filepath.Base(files[0]); first != segmentName(p.Seg) {
		t.Fatalf("first segment after Ack(%v) is %s", p, first)
	}
	if s.Start() != p {
		t.Fatalf("Start() = %v after Ack(%v)", s.Start(), p)
	}
	if err := s.Ack(spool.Pos{}); err != nil || s.Start() != p {
		t.Fatalf("acknowledging an older position: %v, Start() = %v", err, s.Start())
	}
	if recs, _, err := s.ReadFrom(spool.Pos{}, 1, 0); err != nil || len(recs) != 1 || !bytes.Equal(recs[0], want[120]) {
		t.Fatalf("reading from before Start: %q, %v; want %q", recs, err, want[120])
	}
	if err := s.Ack(spool.Pos{Seg: s.End().Seg + 1}); err == nil {
		t.Fatal("acknowledging past the end succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, o)
	if s.Start() != p {
		t.Fatalf("Start() = %v after reopening, want %v", s.Start(), p)
	}
	got, end := readAll(t, s, s.Start(), 0, 0)
	checkRecords(t, got, want[120:])
	if err := s.Ack(end); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Pending != 0 || st.Segments != 0 || st.Bytes != 0 || !st.OldestUnacked.IsZero() {
		t.Fatalf("Stats() = %+v after acknowledging everything", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, o)
	if s.Start() != end {
		t.Fatalf("Start() = %v after reopening, want %v", s.Start(), end)
	}
	if got, _ := readAll(t, s, s.Start(), 0, 0); len(got) != 0 {
		t.Fatalf("read %d acknowledged records", len(got))
	}
	appendAll(t, s, record(999))
	got, _ = readAll(t, s, s.Start(), 0, 0)
	checkRecords(t, got, [][]byte{record(999)})
}

// crashed writes records across several segments and leaves the spool open,
// as kill -9 would, returning its directory, the records, their positions
// and the end.
func crashed(t *testing.T, n int) (string, [][]byte, []spool.Pos, spool.Pos) {
	t.Helper()
	dir := t.TempDir()
	s := open(t, spool.Options{Dir: dir, SegmentSize: 4096})
	var want [][]byte
	for i := range n {
		appendAll(t, s, record(i))
		want = append(want, record(i))
	}
	ps, end := positions(t, s)
	if len(ps) != n || ps[0].Seg == end.Seg {
		t.Fatalf("got %d positions ending at %v, want %d over several segments", len(ps), end, n)
	}
	return dir, want, ps, end
}

// checkRecovery opens a damaged copy and checks that it holds exactly want,
// counted truncations damaged stretches, and takes new appends.
func checkRecovery(t *testing.T, dir string, want [][]byte, truncations int64) {
	t.Helper()
	s, err := spool.Open(spool.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatalf("cannot open damaged spool: %v", err)
	}
	defer s.Close()
	got, _ := readAll(t, s, s.Start(), 0, 0)
	checkRecords(t, got, want)
	if st := s.Stats(); st.Truncations != truncations {
		t.Fatalf("Stats().Truncations = %d, want %d", st.Truncations, truncations)
	}
	more := [][]byte{[]byte("after-1"), []byte("after-2")}
	appendAll(t, s, more...)
	got, _ = readAll(t, s, s.Start(), 0, 0)
	checkRecords(t, got, append(slices.Clip(want), more...))
}

func TestTornTail(t *testing.T) {
	src, want, ps, end := crashed(t, 100)
	last := segmentName(end.Seg)
	// boundary[off] holds how many records end at or before off in the last
	// segment.
	boundary := map[int64]int{}
	kept := 0
	for i, p := range ps {
		if p.Seg != end.Seg {
			kept = i + 1
			continue
		}
		boundary[p.Off] = i
	}
	boundary[end.Off] = len(ps)

	// Short runs cut at every record boundary and next to it, and at every
	// 13th byte in between; full runs cut at every byte.
	cuts := []int64{0, 5, segmentHeader}
	for off := ps[len(ps)-3].Off; off < end.Off; off++ {
		_, atBoundary := boundary[off]
		_, afterBoundary := boundary[off-1]
		if !testing.Short() || atBoundary || afterBoundary || off%13 == 0 {
			cuts = append(cuts, off)
		}
	}
	for _, cut := range cuts {
		dir := copySpool(t, src, func(name string, data []byte) []byte {
			if name == last {
				return data[:cut]
			}
			return data
		})
		n, clean := boundary[cut]
		if !clean {
			for i := len(ps) - 1; i >= 0; i-- {
				if ps[i].Seg == end.Seg && ps[i].Off < cut {
					n = i
					break
				}
			}
		}
		if cut < segmentHeader {
			n = kept
		}
		var truncations int64
		if !clean {
			truncations = 1
		}
		t.Run(fmt.Sprintf("cut at %d", cut), func(t *testing.T) {
			checkRecovery(t, dir, want[:n], truncations)
			// The damage is gone once cut, so the next start finds none.
			checkRecovery(t, dir, append(slices.Clip(want[:n]), []byte("after-1"), []byte("after-2")), 0)
		})
	}
}

// TestZerosAhead checks the space the committer writes ahead of the
// records: the active segment holds zeros after its last record, which a
// restart after kill -9 takes for no damage, while anything else after
// those zeros counts as a damaged tail; sealed and closed segments end at
// their last record.
func TestZerosAhead(t *testing.T) {
	src, want, _, end := crashed(t, 100)
	for _, name := range segmentFiles(t, src) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(name) != segmentName(end.Seg) {
			if tail := data[len(data)-recordHeader:]; bytes.Equal(tail, make([]byte, recordHeader)) {
				t.Errorf("sealed segment %s ends in zeros", name)
			}
			continue
		}
		if int64(len(data)) <= end.Off {
			t.Fatalf("the active segment holds %d bytes, its records end at %d: nothing was written ahead", len(data), end.Off)
		}
		if i := bytes.IndexFunc(data[end.Off:], func(r rune) bool { return r != 0 }); i >= 0 {
			t.Fatalf("byte %d after the records of the active segment is not zero", end.Off+int64(i))
		}
	}
	last := segmentName(end.Seg)
	garbage := func(at int64) func(string, []byte) []byte {
		return func(name string, data []byte) []byte {
			if name == last {
				data[at] = 'x'
			}
			return data
		}
	}
	t.Run("zeros only", func(t *testing.T) {
		dir := copySpool(t, src, nil)
		checkRecovery(t, dir, want, 0)
		fi, err := os.Stat(filepath.Join(dir, last))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != end.Off {
			t.Fatalf("after recovery the last segment holds %d bytes, want its records' %d", fi.Size(), end.Off)
		}
	})
	t.Run("a byte right after the records", func(t *testing.T) {
		checkRecovery(t, copySpool(t, src, garbage(end.Off)), want, 1)
	})
	t.Run("a byte after sixteen zeros", func(t *testing.T) {
		checkRecovery(t, copySpool(t, src, garbage(end.Off+recordHeader)), want, 1)
	})
	t.Run("fewer zeros than a record header", func(t *testing.T) {
		dir := copySpool(t, src, func(name string, data []byte) []byte {
			if name == last {
				return data[:end.Off+recordHeader-1]
			}
			return data
		})
		checkRecovery(t, dir, want, 0)
	})
	t.Run("closed", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, spool.Options{Dir: dir, SegmentSize: 1 << 20})
		appendAll(t, s, record(1), record(2))
		_, end := positions(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, segmentName(end.Seg)))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != end.Off {
			t.Fatalf("a closed segment holds %d bytes, want its records' %d", fi.Size(), end.Off)
		}
	})
}

func TestFlippedBytes(t *testing.T) {
	src, want, ps, end := crashed(t, 100)
	var segs []uint64
	for _, p := range ps {
		if len(segs) == 0 || segs[len(segs)-1] != p.Seg {
			segs = append(segs, p.Seg)
		}
	}
	if len(segs) < 3 {
		t.Fatalf("records span %d segments, want at least 3", len(segs))
	}
	// in returns the index of the k-th record of segment seq.
	in := func(seq uint64, k int) int {
		for i, p := range ps {
			if p.Seg == seq {
				return i + k
			}
		}
		t.Fatalf("no records in segment %d", seq)
		return 0
	}
	without := func(from, to int) [][]byte {
		return append(slices.Clip(want[:from]), want[to:]...)
	}
	lastSeg, midSeg := end.Seg, segs[1]
	lastRec, midRec := in(lastSeg, 2), in(midSeg, 3)
	midEnd := in(segs[2], 0)
	tests := []struct {
		name string
		seq  uint64
		off  int64
		want [][]byte
	}{
		{"last segment: length", lastSeg, ps[lastRec].Off, want[:lastRec]},
		{"last segment: checksum", lastSeg, ps[lastRec].Off + 5, want[:lastRec]},
		{"last segment: time", lastSeg, ps[lastRec].Off + 10, want[:lastRec]},
		{"last segment: payload", lastSeg, ps[lastRec].Off + recordHeader + 3, want[:lastRec]},
		{"last segment: last byte", lastSeg, end.Off - 1, want[:len(want)-1]},
		{"last segment: header", lastSeg, 2, want[:in(lastSeg, 0)]},
		{"middle segment: length", midSeg, ps[midRec].Off + 1, without(midRec, midEnd)},
		{"middle segment: payload", midSeg, ps[midRec].Off + recordHeader, without(midRec, midEnd)},
		{"middle segment: header", midSeg, 9, without(in(midSeg, 0), midEnd)},
		{"first segment: first record", segs[0], segmentHeader + 7, want[in(segs[1], 0):]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copySpool(t, src, func(name string, data []byte) []byte {
				if name == segmentName(tt.seq) {
					data[tt.off] ^= 0xff
				}
				return data
			})
			checkRecovery(t, dir, tt.want, 1)
		})
	}
}

func TestDamagedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s := open(t, spool.Options{Dir: dir, SegmentSize: 1024})
	var want [][]byte
	for i := range 50 {
		appendAll(t, s, record(i))
		want = append(want, record(i))
	}
	ps, _ := positions(t, s)
	if err := s.Ack(ps[10]); err != nil {
		t.Fatal(err)
	}
	// A checkpoint that cannot be read replays every segment still there:
	// duplicates, never a loss.
	dir = copySpool(t, dir, func(name string, data []byte) []byte {
		if name == "ack" {
			data[9] ^= 0xff
		}
		return data
	})
	s = open(t, spool.Options{Dir: dir})
	got, _ := readAll(t, s, s.Start(), 0, 0)
	if len(got) < 40 || !bytes.Equal(got[len(got)-40], want[10]) {
		t.Fatalf("after a damaged checkpoint read %d records", len(got))
	}
}

func TestFull(t *testing.T) {
	const maxBytes = 8192
	s := open(t, spool.Options{Dir: t.TempDir(), SegmentSize: 1024, MaxBytes: maxBytes})
	rec := bytes.Repeat([]byte("f"), 200)
	n := 0
	for ; ; n++ {
		err := s.Append(rec)
		if errors.Is(err, spool.ErrFull) {
			break
		}
		if err != nil || n > maxBytes/200 {
			t.Fatalf("append %d: %v", n, err)
		}
	}
	if err := s.Append(rec); !errors.Is(err, spool.ErrFull) {
		t.Fatalf("appending to a full spool: %v, want ErrFull", err)
	}
	if st := s.Stats(); st.Bytes > maxBytes+segmentHeader || st.Bytes+216 <= maxBytes || st.Refused != 2 {
		t.Fatalf("full spool: Stats() = %+v after %d records", st, n)
	}
	got, next := readAll(t, s, s.Start(), 0, 0)
	if len(got) != n {
		t.Fatalf("read %d records, appended %d", len(got), n)
	}
	if err := s.Ack(next); err != nil {
		t.Fatal(err)
	}
	appendAll(t, s, []byte("room again"))
	got, _ = readAll(t, s, next, 0, 0)
	checkRecords(t, got, [][]byte{[]byte("room again")})

	if err := s.Append(make([]byte, maxBytes)); !errors.Is(err, spool.ErrTooLarge) {
		t.Fatalf("appending more than MaxBytes in one call: %v, want ErrTooLarge", err)
	}
	if err := s.Append(make([]byte, spool.MaxRecordSize+1)); !errors.Is(err, spool.ErrTooLarge) {
		t.Fatalf("appending a record above MaxRecordSize: %v, want ErrTooLarge", err)
	}
}

// TestDiskFull fills a real file system and checks that the spool reports
// the error, keeps what it stored, and recovers by itself once space is
// freed. One segment size runs out of space while creating a segment, the
// other while writing records to one.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	f := func(t *testing.T, segmentSize int64) {
		mnt := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(mnt, 0o750); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs to fill: %v: %s", err, bytes.TrimSpace(out))
		}
		t.Cleanup(func() {
			if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
				t.Errorf("cannot unmount %s: %v: %s", mnt, err, out)
			}
		})
		o := spool.Options{Dir: filepath.Join(mnt, "spool"), SegmentSize: segmentSize}
		s := open(t, o)
		var want [][]byte
		i := 0
		for ; ; i++ {
			err := s.Append(record(i))
			if err == nil {
				want = append(want, record(i))
				continue
			}
			if !errors.Is(err, syscall.ENOSPC) || i > 5000 {
				t.Fatalf("append %d to a full disk: %v, want ENOSPC", i, err)
			}
			t.Logf("disk full after %d records: %v", i, err)
			break
		}
		if err := s.Append(record(i)); err == nil {
			t.Fatal("appending the same record again succeeded")
		}
		if st := s.Stats(); st.WriteErrors != 2 || st.CommittedAppends != int64(len(want)) {
			t.Fatalf("Stats() = %+v, want 2 write errors and %d committed appends", st, len(want))
		}
		got, next := readAll(t, s, s.Start(), 0, 0)
		checkRecords(t, got, want)
		if err := s.Ack(next); err != nil {
			t.Fatalf("cannot ack on a full disk: %v", err)
		}
		more := [][]byte{record(100000), record(100001)}
		appendAll(t, s, more...)
		got, _ = readAll(t, s, next, 0, 0)
		checkRecords(t, got, more)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = open(t, o)
		got, _ = readAll(t, s, s.Start(), 0, 0)
		checkRecords(t, got, more)
		if st := s.Stats(); st.Truncations != 0 {
			t.Fatalf("a failed write left damage: Stats() = %+v", st)
		}
	}
	t.Run("creating a segment", func(t *testing.T) { f(t, 16<<10) })
	t.Run("writing records", func(t *testing.T) { f(t, 100<<10) })
}

// TestConcurrent appends from many goroutines while a consumer reads and
// acknowledges, and checks that every record arrives exactly once, in the
// order of its goroutine, with the records of one call side by side.
func TestConcurrent(t *testing.T) {
	const goroutines, calls = 16, 200
	s := open(t, spool.Options{Dir: t.TempDir(), SegmentSize: 8 << 10})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				a := fmt.Appendf(nil, "g%02d-%04d-a", g, i)
				var err error
				if g%2 == 0 {
					err = s.Append(a)
				} else {
					err = s.Append(a, fmt.Appendf(nil, "g%02d-%04d-b", g, i))
				}
				if err != nil {
					t.Errorf("cannot append: %v", err)
					return
				}
			}
		})
	}
	appended := make(chan struct{})
	go func() {
		wg.Wait()
		close(appended)
	}()

	var got []string
	p := s.Start()
	consume := func() int {
		recs, next, err := s.ReadFrom(p, 50, 0)
		if err != nil {
			t.Fatalf("cannot read: %v", err)
		}
		for _, r := range recs {
			got = append(got, string(r))
		}
		if len(recs) > 0 {
			if err := s.Ack(next); err != nil {
				t.Fatalf("cannot ack: %v", err)
			}
			p = next
		}
		return len(recs)
	}
	done := false
	for !done {
		if consume() > 0 {
			continue
		}
		select {
		case <-s.Notify():
		case <-appended:
			for consume() > 0 {
			}
			done = true
		}
	}

	if want := goroutines * calls * 3 / 2; len(got) != want {
		t.Fatalf("read %d records, want %d", len(got), want)
	}
	nextCall := make([]int, goroutines)
	for i := 0; i < len(got); i++ {
		var g, call int
		var part string
		if _, err := fmt.Sscanf(got[i], "g%02d-%04d-%s", &g, &call, &part); err != nil || part != "a" {
			t.Fatalf("record %d is %q, want the first of a call", i, got[i])
		}
		if call != nextCall[g] {
			t.Fatalf("record %d is %q, want call %d of goroutine %d", i, got[i], nextCall[g], g)
		}
		nextCall[g]++
		if g%2 == 1 {
			i++
			if want := fmt.Sprintf("g%02d-%04d-b", g, call); i == len(got) || got[i] != want {
				t.Fatalf("record %d after %q is not %q", i, got[i-1], want)
			}
		}
	}
	st := s.Stats()
	if st.Pending != 0 || st.Segments > 1 {
		t.Fatalf("Stats() = %+v after consuming everything", st)
	}
	// Every call was made durable by exactly one commit.
	if st.CommittedAppends != goroutines*calls || st.Commits < 1 || st.Commits > st.CommittedAppends || st.CommitTime <= 0 {
		t.Fatalf("Stats() = %+v, want %d committed appends in 1 to as many commits, and their time", st, goroutines*calls)
	}
}

// TestCloseDrains closes the spool under load and checks that exactly the
// calls that succeeded are stored.
func TestCloseDrains(t *testing.T) {
	dir := t.TempDir()
	s := open(t, spool.Options{Dir: dir})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		stored   = map[string]bool{}
		count    atomic.Int64
		busy     = make(chan struct{})
		busyOnce sync.Once
	)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				r := fmt.Sprintf("g%d-%d", g, i)
				err := s.Append([]byte(r))
				if errors.Is(err, spool.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("cannot append: %v", err)
					return
				}
				mu.Lock()
				stored[r] = true
				mu.Unlock()
				if count.Add(1) == 500 {
					busyOnce.Do(func() { close(busy) })
				}
			}
		})
	}
	<-busy
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := s.Append([]byte("late")); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if _, _, err := s.ReadFrom(spool.Pos{}, 0, 0); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("ReadFrom after Close: %v, want ErrClosed", err)
	}
	if err := s.Ack(spool.Pos{}); !errors.Is(err, spool.ErrClosed) {
		t.Fatalf("Ack after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s = open(t, spool.Options{Dir: dir})
	got, _ := readAll(t, s, s.Start(), 0, 0)
	if len(got) != len(stored) {
		t.Fatalf("read %d records, %d appends succeeded", len(got), len(stored))
	}
	for _, r := range got {
		if !stored[string(r)] {
			t.Fatalf("read %q, whose append did not succeed or came twice", r)
		}
		delete(stored, string(r))
	}
}

func TestOpen(t *testing.T) {
	if _, err := spool.Open(spool.Options{}); err == nil {
		t.Fatal("opening without a directory succeeded")
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := open(t, spool.Options{Dir: dir})
	if _, err := spool.Open(spool.Options{Dir: dir}); err == nil {
		t.Fatal("opening a spool twice succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, spool.Options{Dir: dir})
	if s.Start() != s.End() {
		t.Fatalf("empty spool: Start() = %v, End() = %v", s.Start(), s.End())
	}
	if recs, next, err := s.ReadFrom(s.Start(), 0, 0); len(recs) != 0 || next != s.Start() || err != nil {
		t.Fatalf("reading an empty spool: %d records, %v, %v", len(recs), next, err)
	}
}

func benchmarkAppend(b *testing.B, parallel bool) {
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("nosync=%t", noSync), func(b *testing.B) {
			s := open(b, spool.Options{Dir: b.TempDir(), MaxBytes: 1 << 40, NoSync: noSync})
			b.SetBytes(200)
			b.ReportAllocs()
			b.ResetTimer()
			if parallel {
				b.SetParallelism(64)
				b.RunParallel(func(pb *testing.PB) {
					rec := bytes.Repeat([]byte("p"), 200)
					for pb.Next() {
						if err := s.Append(rec); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				rec := bytes.Repeat([]byte("s"), 200)
				for range b.N {
					if err := s.Append(rec); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func BenchmarkAppend(b *testing.B)         { benchmarkAppend(b, false) }
func BenchmarkAppendParallel(b *testing.B) { benchmarkAppend(b, true) }
