package spool

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fuzzRecord is a record the fuzz targets expect to read back, and where.
type fuzzRecord struct {
	pos     Pos
	payload []byte
}

// writtenSpool appends records of assorted sizes, the empty one among them,
// through the spool's own writer and acknowledges some of them; it returns
// the segment files in order and the checkpoint file.
func writtenSpool(tb testing.TB) (segs [][]byte, ack []byte) {
	tb.Helper()
	dir := tb.TempDir()
	s, err := Open(Options{Dir: dir, SegmentSize: 400, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range 20 {
		rec := bytes.Repeat([]byte{byte('a' + i)}, i*i)
		if err := s.Append(rec); err != nil {
			tb.Fatal(err)
		}
	}
	recs, next, err := s.ReadFrom(s.Start(), 3, 0)
	if err != nil || len(recs) != 3 {
		tb.Fatalf("cannot read back: %d records, %v", len(recs), err)
	}
	if err := s.Ack(next); err != nil {
		tb.Fatal(err)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(names)
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		segs = append(segs, b)
	}
	if ack, err = os.ReadFile(filepath.Join(dir, checkpointName)); err != nil {
		tb.Fatal(err)
	}
	return segs, ack
}

var fuzzCRC = crc32.MakeTable(crc32.Castagnoli)

// intactPrefix decodes a segment following the format comment in format.go,
// independently of the scanner: the records up to the first damage, and
// whether the header is intact but of another version.
func intactPrefix(seq uint64, b []byte) (recs []fuzzRecord, otherVersion bool) {
	le := binary.LittleEndian
	if len(b) < segmentHeaderSize || string(b[:4]) != segmentMagic || le.Uint32(b[8:]) != crc32.Checksum(b[:8], fuzzCRC) {
		return nil, false
	}
	if le.Uint32(b[4:]) != formatVersion {
		return nil, true
	}
	for off := segmentHeaderSize; len(b)-off >= recordHeaderSize; {
		h := b[off:]
		n := int(le.Uint32(h))
		if n > MaxRecordSize || n > len(h)-recordHeaderSize {
			break
		}
		crc := crc32.Update(crc32.Checksum(h[:4], fuzzCRC), fuzzCRC, h[8:recordHeaderSize+n])
		if crc != le.Uint32(h[4:]) {
			break
		}
		recs = append(recs, fuzzRecord{Pos{Seg: seq, Off: int64(off)}, h[recordHeaderSize : recordHeaderSize+n]})
		off += recordHeaderSize + n
	}
	return recs, false
}

// readEverything reads from p to the end in small batches, so that batches
// end inside segments as well as at their ends.
func readEverything(t *testing.T, s *Spool, p Pos) ([][]byte, Pos) {
	t.Helper()
	var out [][]byte
	for {
		recs, next, err := s.ReadFrom(p, 3, 64)
		if err != nil {
			t.Fatalf("cannot read from %v: %v", p, err)
		}
		if len(recs) == 0 {
			return out, p
		}
		if !p.Less(next) {
			t.Fatalf("ReadFrom(%v) returned records but did not move past it: %v", p, next)
		}
		for _, r := range recs {
			out = append(out, bytes.Clone(r))
		}
		p = next
	}
}

func payloads(recs []fuzzRecord) [][]byte {
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = r.payload
	}
	return out
}

func sameRecords(got, want [][]byte) bool {
	return slices.EqualFunc(got, want, bytes.Equal)
}

// FuzzOpen writes arbitrary bytes as the segments and the checkpoint of a
// spool directory and opens it. Open must either refuse (only a segment of
// another format version, or one numbered too high, is reason to) or
// deliver exactly the intact prefix of each segment from the checkpoint on,
// then take a new record and keep all of them across another Open.
//
// seg1 is numbered base+1 and seg2, when not empty, base+2; a number that
// wraps to 0 names no segment. ack, when not empty, is the checkpoint file
// as it is; when empty, a non-zero ackSeg has the package's writer encode
// the checkpoint {ackSeg, ackOff}, so that the fuzzer reaches positions a
// checksum would otherwise hide.
func FuzzOpen(f *testing.F) {
	segs, ack := writtenSpool(f)
	if len(segs) < 3 {
		f.Fatalf("the seed spool has %d segments, want at least 3", len(segs))
	}
	ackPos, err := decodeCheckpoint(ack)
	if err != nil {
		f.Fatal(err)
	}
	first, mid, last := segs[0], segs[len(segs)-2], segs[len(segs)-1]
	f.Add(first, segs[1], []byte(nil), uint64(0), int64(0), uint64(0))
	f.Add(first, []byte(nil), ack, uint64(0), int64(0), uint64(0))
	f.Add(mid, last, []byte(nil), uint64(2), int64(segmentHeaderSize), uint64(0))
	f.Add(first, last, []byte(nil), ackPos.Seg, ackPos.Off, uint64(0))
	f.Add(last[:len(last)-3], []byte(nil), []byte(nil), uint64(0), int64(0), uint64(0))
	f.Add(first[:segmentHeaderSize+recordHeaderSize-1], mid, []byte(nil), uint64(0), int64(0), uint64(0))
	flipped := bytes.Clone(mid)
	flipped[len(flipped)/2] ^= 0x20
	f.Add(flipped, last, ack[:checkpointSize-1], uint64(0), int64(0), uint64(0))
	newer := bytes.Clone(first)
	binary.LittleEndian.PutUint32(newer[4:], formatVersion+1)
	binary.LittleEndian.PutUint32(newer[8:], crc32.Checksum(newer[:8], castagnoli))
	f.Add(newer, last, []byte(nil), uint64(0), int64(0), uint64(0))
	f.Add([]byte(nil), []byte(nil), []byte(nil), uint64(0), int64(0), uint64(0))
	// Zeros written ahead of the records, and a byte after them.
	zeroed := append(bytes.Clone(last), make([]byte, 3*recordHeaderSize+5)...)
	f.Add(mid, zeroed, []byte(nil), uint64(0), int64(0), uint64(0))
	zeroed = bytes.Clone(zeroed)
	zeroed[len(zeroed)-2] = 1
	f.Add(zeroed, last, []byte(nil), uint64(0), int64(0), uint64(0))
	f.Add(first, []byte(nil), []byte(nil), uint64(math.MaxUint64), int64(math.MaxInt64), uint64(0))
	f.Add(first, []byte(nil), []byte(nil), uint64(math.MaxUint64), int64(0), uint64(0))
	f.Add(first, last, []byte(nil), uint64(0), int64(0), uint64(math.MaxUint64-1))
	f.Add(first, last, []byte(nil), uint64(0), int64(0), uint64(maxSeq-2))

	f.Fuzz(func(t *testing.T, seg1, seg2, ack []byte, ackSeg uint64, ackOff int64, base uint64) {
		dir := t.TempDir()
		write := func(name string, b []byte) {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o640); err != nil {
				t.Fatal(err)
			}
		}
		files := [][]byte{seg1}
		if len(seg2) > 0 {
			files = append(files, seg2)
		}
		for i, b := range files {
			write(segmentName(base+uint64(i+1)), b)
		}
		switch {
		case len(ack) > 0:
			write(checkpointName, ack)
		case ackSeg != 0:
			b := encodeCheckpoint(Pos{Seg: ackSeg, Off: ackOff})
			ack = b[:]
			write(checkpointName, ack)
		}

		// What Open should find: segments wholly before the checkpoint
		// are gone unread, and the rest hold their intact prefixes.
		from, err := decodeCheckpoint(ack)
		if err != nil {
			from = Pos{}
		}
		var want []fuzzRecord
		refuse := false
		for i, b := range files {
			seq := base + uint64(i+1)
			refuse = refuse || seq >= maxSeq
			if seq == 0 || seq < from.Seg {
				continue
			}
			recs, other := intactPrefix(seq, b)
			refuse = refuse || other
			for _, r := range recs {
				// A checkpoint inside a record replays that record.
				end := Pos{Seg: seq, Off: r.pos.Off + recordHeaderSize + int64(len(r.payload))}
				if from.Less(end) {
					want = append(want, r)
				}
			}
		}

		s, err := Open(Options{Dir: dir, NoSync: true})
		if refuse || err != nil {
			if !refuse || err == nil {
				t.Fatalf("Open: %v; want refused: %t", err, refuse)
			}
			return
		}
		defer s.Close()
		got, end := readEverything(t, s, s.Start())
		if !sameRecords(got, payloads(want)) {
			t.Fatalf("read %d records %q from %v, want the intact %q", len(got), got, s.Start(), payloads(want))
		}
		if st := s.Stats(); st.Pending < 0 || st.Segments > len(files) {
			t.Fatalf("Stats() = %+v for %d segment files", st, len(files))
		}

		after := []byte("after")
		if err := s.Append(after); err != nil {
			t.Fatalf("cannot append to the recovered spool: %v", err)
		}
		if more, _ := readEverything(t, s, end); !sameRecords(more, [][]byte{after}) {
			t.Fatalf("read %q after appending, want %q", more, after)
		}
		start := s.Start()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(Options{Dir: dir, NoSync: true})
		if err != nil {
			t.Fatalf("cannot open the recovered spool again: %v", err)
		}
		defer s.Close()
		if s.Start() != start {
			t.Fatalf("reopened at %v, was at %v", s.Start(), start)
		}
		got, _ = readEverything(t, s, s.Start())
		if want := append(payloads(want), after); !sameRecords(got, want) {
			t.Fatalf("reopened, read %q, want %q", got, want)
		}
	})
}

// FuzzDecodeCheckpoint checks that a checkpoint decodes only when it is
// exactly what the writer makes of the position it decodes to.
func FuzzDecodeCheckpoint(f *testing.F) {
	_, ack := writtenSpool(f)
	f.Add(ack)
	for _, p := range []Pos{{}, {Seg: 1, Off: segmentHeaderSize}, {Seg: 1 << 40, Off: 1 << 30}} {
		b := encodeCheckpoint(p)
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeCheckpoint(b)
		if err != nil {
			return
		}
		if again := encodeCheckpoint(p); !bytes.Equal(again[:], b) {
			t.Fatalf("%x decodes to %v, which encodes to %x", b, p, again)
		}
	})
}
