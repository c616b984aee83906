package spool

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"time"
)

// span locates one record's payload in the reader's buffer.
type span struct{ start, end int }

// ReadFrom returns the records that follow position p, in append order
// across segments, and the position after the last one returned. It returns
// at most maxRecords records (no limit if zero or less) and stops before
// maxBytes bytes of records, headers included (DefaultReadBytes if zero or
// less), except that a first record larger than that is returned whole. It
// never blocks: with nothing after p it returns no records and p. A position
// before Start reads from Start.
//
// The returned slices point into a buffer that the spool reuses: they are
// valid until the next ReadFrom or Close, and the caller copies what it keeps.
//
// The returned position moves past a segment that has been read to its end
// once a newer segment exists, so that acknowledging it lets Ack delete that
// segment.
func (s *Spool) ReadFrom(p Pos, maxRecords, maxBytes int) ([][]byte, Pos, error) {
	if maxRecords <= 0 {
		maxRecords = math.MaxInt
	}
	if maxBytes <= 0 {
		maxBytes = DefaultReadBytes
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.rbuf, s.spans = s.rbuf[:0], s.spans[:0]
	next, cur := p, p
	s.mu.Lock()
	if cur.Less(s.start) {
		cur = s.start
	}
	s.mu.Unlock()
	var err error
	for len(s.spans) < maxRecords && len(s.rbuf) < maxBytes {
		g, sealed, ok, shut := s.segmentFrom(cur.Seg)
		if shut {
			return nil, p, ErrClosed
		}
		if !ok {
			break
		}
		if g.seq != cur.Seg {
			cur = Pos{Seg: g.seq, Off: segmentHeaderSize}
		}
		cur.Off = max(cur.Off, segmentHeaderSize)
		if cur.Off < g.end {
			n, rerr := s.readSegment(g, cur.Off, maxRecords, maxBytes)
			cur.Off += n
			if n > 0 {
				next = cur
			}
			if rerr != nil {
				if len(s.spans) == 0 {
					err = rerr
				}
				break
			}
			if cur.Off < g.end {
				break
			}
		}
		if !sealed {
			break
		}
		cur = Pos{Seg: g.seq + 1, Off: segmentHeaderSize}
		if len(s.spans) > 0 {
			next = cur
		}
	}
	if len(s.spans) == 0 {
		return nil, p, err
	}
	s.rrecs = s.rrecs[:0]
	for _, sp := range s.spans {
		s.rrecs = append(s.rrecs, s.rbuf[sp.start:sp.end:sp.end])
	}
	return s.rrecs, next, nil
}

// segmentFrom returns the first segment numbered seq or above, and whether
// it is sealed: a sealed segment never grows again.
func (s *Spool) segmentFrom(seq uint64) (g segment, sealed, ok, shut bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return segment{}, false, false, true
	}
	for _, g := range s.segs {
		if g.seq >= seq {
			return g, g.seq != s.activeSeq, true, false
		}
	}
	return segment{}, false, false, false
}

// readSegment appends to the reader's buffer the records of segment g from
// off on, as many as the limits allow, and returns how many bytes it
// consumed. It checks each record again, since the disk may have damaged it
// after Open.
func (s *Spool) readSegment(g segment, off int64, maxRecords, maxBytes int) (int64, error) {
	f, err := s.readerFile(g.seq)
	if err != nil {
		return 0, err
	}
	avail := g.end - off
	want := min(avail, int64(maxBytes-len(s.rbuf)))
	want = max(want, min(avail, recordHeaderSize))
	base := len(s.rbuf)
	s.rbuf = extend(s.rbuf, int(want))
	if _, err := f.ReadAt(s.rbuf[base:], off); err != nil {
		s.rbuf = s.rbuf[:base]
		return 0, fmt.Errorf("cannot read spool segment: %w", err)
	}
	pos := base
	for len(s.spans) < maxRecords {
		rest := s.rbuf[pos:]
		if len(rest) < recordHeaderSize {
			break
		}
		at := off + int64(pos-base)
		n := recordLen(rest)
		total := recordHeaderSize + n
		if n > MaxRecordSize || at+total > g.end {
			s.rbuf = s.rbuf[:pos]
			return int64(pos - base), fmt.Errorf("cannot read spool record at %v: %w", Pos{Seg: g.seq, Off: at}, ErrCorrupt)
		}
		if int64(len(rest)) < total {
			if len(s.spans) > 0 {
				break
			}
			// The first record is larger than maxBytes. It is read whole so
			// that the consumer always makes progress.
			have := len(s.rbuf)
			s.rbuf = extend(s.rbuf, int(total)-len(rest))
			if _, err := f.ReadAt(s.rbuf[have:], off+int64(have-base)); err != nil {
				s.rbuf = s.rbuf[:pos]
				return int64(pos - base), fmt.Errorf("cannot read spool segment: %w", err)
			}
			rest = s.rbuf[pos:]
		}
		rec := rest[:total]
		if recordCRC(rec) != binary.LittleEndian.Uint32(rec[4:]) {
			s.rbuf = s.rbuf[:pos]
			return int64(pos - base), fmt.Errorf("cannot read spool record at %v: %w", Pos{Seg: g.seq, Off: at}, ErrCorrupt)
		}
		s.spans = append(s.spans, span{start: pos + recordHeaderSize, end: pos + int(total)})
		pos += int(total)
	}
	s.rbuf = s.rbuf[:pos]
	return int64(pos - base), nil
}

// extend lengthens b by n bytes, whose contents are undefined.
func extend(b []byte, n int) []byte {
	return slices.Grow(b, n)[:len(b)+n]
}

// readerFile returns the consumer's handle on segment seq, which stays open
// while the consumer reads that segment.
func (s *Spool) readerFile(seq uint64) (*os.File, error) {
	if s.rf != nil && s.rfSeq == seq {
		return s.rf, nil
	}
	if s.rf != nil {
		_ = s.rf.Close()
		s.rf = nil
	}
	f, err := os.Open(s.segPath(seq))
	if err != nil {
		return nil, fmt.Errorf("cannot open spool segment: %w", err)
	}
	s.rf, s.rfSeq = f, seq
	return f, nil
}

// Stats describes the spool. It reads one record header from disk when the
// oldest unacknowledged record has changed since the last call.
func (s *Spool) Stats() Stats {
	st := Stats{
		Bytes:       s.diskBytes.Load(),
		Refused:     s.refused.Load(),
		WriteErrors: s.writeErrors.Load(),
	}
	st.Commits, st.CommittedAppends, st.CommitTime = s.CommitCounts()
	s.mu.Lock()
	start := s.start
	st.Segments = len(s.segs)
	st.Truncations = s.truncations
	s.mu.Unlock()
	st.Pending, st.OldestUnacked = s.After(start)
	return st
}

// CommitCounts returns Stats' group-commit counters alone: atomic loads,
// without the locks and the record header read that Stats may take, for
// a metrics scrape.
func (s *Spool) CommitCounts() (commits, appends int64, took time.Duration) {
	return s.commits.Load(), s.committed.Load(), time.Duration(s.commitNanos.Load())
}

// After returns the bytes of the records from p on, headers included, and
// the append time of the first of them (zero when there is none). A
// consumer that acknowledges late uses it for what it has yet to read.
func (s *Spool) After(p Pos) (bytes int64, oldest time.Time) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	if p.Less(s.start) {
		p = s.start
	}
	var first Pos
	for _, g := range s.segs {
		if g.seq < p.Seg {
			continue
		}
		off := int64(segmentHeaderSize)
		if g.seq == p.Seg {
			off = max(off, p.Off)
		}
		if off >= g.end {
			continue
		}
		if bytes == 0 {
			first = Pos{Seg: g.seq, Off: off}
		}
		bytes += g.end - off
	}
	shut := s.shut
	s.mu.Unlock()
	if bytes > 0 && !shut {
		oldest = s.recordTimeAt(first)
	}
	return bytes, oldest
}

func (s *Spool) recordTimeAt(p Pos) time.Time {
	if p == s.oldestPos && !s.oldestTime.IsZero() {
		return s.oldestTime
	}
	f, err := s.readerFile(p.Seg)
	if err != nil {
		return time.Time{}
	}
	var h [recordHeaderSize]byte
	if _, err := f.ReadAt(h[:], p.Off); err != nil {
		return time.Time{}
	}
	s.oldestPos, s.oldestTime = p, time.Unix(0, recordTime(h[:]))
	return s.oldestTime
}
