// Package spool is a durable, append-only log on disk. The collector appends
// every accepted event before it answers 2xx; a single consumer reads batches
// and acknowledges them once they are stored elsewhere, which trims the log.
//
// Appends use group commit: one committer goroutine owns the active segment
// file, and the records of all callers waiting at the same time are written
// with one write and covered by one fdatasync. The committer writes zeros
// ahead of the records, a chunk at a time, and syncs them with the file's
// size, so that an append's fdatasync writes only data and waits for no
// journal commit. Records are opaque to the spool.
package spool

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultSegmentSize is the segment size when Options.SegmentSize is zero.
	DefaultSegmentSize = 64 << 20
	// DefaultMaxBytes is the bound on disk use when Options.MaxBytes is zero.
	DefaultMaxBytes = 1 << 30
	// DefaultReadBytes is the batch size ReadFrom uses when maxBytes is zero.
	DefaultReadBytes = 1 << 20
	// MaxRecordSize is the largest payload Append accepts.
	MaxRecordSize = 16 << 20

	// keepBufferBytes bounds the append buffers the committer keeps for reuse,
	// so that one burst does not pin its memory for the life of the process.
	keepBufferBytes = 4 << 20
	errorLogEvery   = 10 * time.Second
	// preallocChunk is how far ahead of its records the active segment is
	// written with zeros (at most to Options.SegmentSize).
	preallocChunk = 1 << 20
)

// zeros is what preallocation writes, a chunk at most at a time.
var zeros [preallocChunk]byte

var (
	// ErrFull is returned by Append when the records would take the spool past
	// Options.MaxBytes; the caller should refuse the request (503) and retry
	// later, once the consumer has caught up.
	ErrFull = errors.New("spool is full")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("spool is closed")
	// ErrTooLarge is returned by Append for a record larger than MaxRecordSize
	// or a call whose records could never fit in Options.MaxBytes.
	ErrTooLarge = errors.New("records are too large for the spool")
	// ErrCorrupt is wrapped by ReadFrom's error when a record fails its
	// checksum although it was intact when the spool was opened. The
	// consumer cannot get past it until the next Open, which cuts or skips
	// the damage.
	ErrCorrupt = errors.New("corrupt spool record")
)

// Options configures a Spool. Zero values select the defaults.
type Options struct {
	// Dir holds the spool; it is created if missing. Only one process may have
	// it open at a time.
	Dir string
	// SegmentSize is the size past which appends go to a new segment file.
	// Records of one Append call never straddle two segments, so a segment
	// may end up larger when a call's records are larger than SegmentSize.
	SegmentSize int64
	// MaxBytes bounds the bytes of the segments up to their last record,
	// acknowledged or not. Append returns ErrFull rather than grow the spool
	// past it. The active segment also holds up to 1 MiB of zeros written
	// ahead of its records (not with NoSync).
	MaxBytes int64
	// NoSync skips the fsyncs that Append waits for. It exists only to
	// measure what durability costs: records appended with it can be lost by
	// a power failure. Checkpoints written by Ack are always synced.
	NoSync bool
	// Logger receives damage found at Open and write errors, the latter at
	// most once every ten seconds.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("Options.Dir is empty"))
	}
	if o.SegmentSize < 0 {
		errs = append(errs, fmt.Errorf("Options.SegmentSize is negative: %d", o.SegmentSize))
	}
	if o.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("Options.MaxBytes is negative: %d", o.MaxBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("cannot open spool: %w", err)
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Pos is the position of a record: the sequence number of its segment and its
// byte offset there. Positions compare with == and are ordered by Less.
type Pos struct {
	Seg uint64
	Off int64
}

// Less reports whether p comes before q.
func (p Pos) Less(q Pos) bool {
	return p.Seg < q.Seg || p.Seg == q.Seg && p.Off < q.Off
}

func (p Pos) String() string {
	return fmt.Sprintf("%d:%d", p.Seg, p.Off)
}

// Stats describes the spool at one moment.
type Stats struct {
	// Bytes is what all segment files hold up to their last record,
	// acknowledged or not (the zeros written ahead left out).
	Bytes int64
	// Segments counts the segment files.
	Segments int
	// Pending counts the bytes of records, headers included, between Start
	// and End: what the consumer has yet to acknowledge.
	Pending int64
	// OldestUnacked is the append time of the first record not yet
	// acknowledged, and zero when there is none.
	OldestUnacked time.Time
	// Truncations counts the damaged stretches found by Open: torn tails cut
	// off the last segment and damage that ends an earlier segment early.
	Truncations int64
	// Refused counts Append calls answered with ErrFull.
	Refused int64
	// WriteErrors counts group commits that failed to write or sync.
	WriteErrors int64
	// Commits counts group commits, and CommittedAppends the Append calls
	// they made durable: their ratio is how many requests share a sync.
	Commits, CommittedAppends int64
	// CommitTime is the time all group commits took to write and sync: over
	// Commits, what an Append waits for once its commit has begun.
	CommitTime time.Duration
}

// segment is what the spool knows of one segment file.
type segment struct {
	seq uint64
	end int64 // offset past the last intact, durable record
	// size is the bytes on disk, which exceeds end only for damaged segments
	// and for those that recovery found with zeros after their records.
	size int64
}

// batch gathers the records of the Append calls that one group commit stores.
type batch struct {
	buf  []byte
	ends []int // end offset in buf of each call's records
	done chan struct{}
	// After done is closed, the calls [0, ok) are durable and the others
	// failed with err.
	ok  int
	err error
}

// Spool is a durable append-only log. All methods are safe for concurrent
// use, but ReadFrom and Ack are meant for a single consumer.
type Spool struct {
	opts  Options
	log   *slog.Logger
	lockf *os.File

	// qmu guards the batch that appenders fill and the committer takes; it is
	// never held while mu is taken.
	qmu      sync.Mutex
	pending  *batch
	reserved int64 // bytes queued in batches not yet written
	closed   bool

	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	notify  chan struct{}

	// The committer goroutine owns these.
	active     *os.File
	activeEnd  int64
	allocated  int64 // the active segment's file size: activeEnd and the zeros after it
	noPrealloc bool  // preallocation failed in the active segment: appends extend it
	spareBuf   []byte
	spareEnds  []int
	lastErrLog time.Time
	suppressed int
	failing    bool

	diskBytes   atomic.Int64
	refused     atomic.Int64
	writeErrors atomic.Int64
	commits     atomic.Int64
	committed   atomic.Int64 // Append calls made durable
	commitNanos atomic.Int64

	// rmu serialises the consumer's side: the reader's file and buffers, and
	// the deletions of Ack. It is taken before mu.
	rmu        sync.Mutex
	rf         *os.File
	rfSeq      uint64
	rbuf       []byte
	spans      []span
	rrecs      [][]byte
	oldestPos  Pos
	oldestTime time.Time
	persisted  Pos  // the position the checkpoint holds
	dirty      bool // start is ahead of the checkpoint because a write failed

	// mu guards the segment list and positions, which the committer, the
	// consumer and Stats share.
	mu          sync.Mutex
	segs        []segment
	activeSeq   uint64 // 0 when no segment is open for appends
	nextSeq     uint64
	start       Pos
	truncations int64
	shut        bool
}

// Open opens the spool in o.Dir, creating it if missing, and recovers what a
// previous process left: it checks every record of the segments not yet
// acknowledged, cuts a damaged tail off the last segment, and skips the
// damaged rest of an earlier segment. Damage is logged and counted, never
// fatal; only I/O errors, segments of an unknown format version and a
// segment numbered too high to number any after it stop Open.
// Appends always go to a new segment, so the records of an earlier run are
// never written to again.
func Open(o Options) (*Spool, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create spool directory: %w", err)
	}
	lockf, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	s := &Spool{
		opts:    o,
		log:     o.Logger,
		lockf:   lockf,
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		notify:  make(chan struct{}, 1),
		nextSeq: 1,
	}
	if err := s.recover(); err != nil {
		_ = lockf.Close()
		return nil, err
	}
	s.pending = &batch{done: make(chan struct{})}
	go s.run()
	return s, nil
}

func (s *Spool) recover() error {
	ack := s.readCheckpoint()
	s.persisted = ack
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("cannot read spool directory: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		if seq, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	// New segments are numbered past every existing one and past the
	// checkpoint, so that no new record can lie before the acknowledged
	// position. A checkpoint at the very start of a segment that does not
	// exist yet names the segment that comes next.
	s.nextSeq = ack.Seg + 1
	if ack.Off <= segmentHeaderSize {
		s.nextSeq = max(ack.Seg, 1)
	}
	if len(seqs) > 0 {
		if seqs[len(seqs)-1] >= maxSeq {
			return fmt.Errorf("cannot open spool: segment %s is numbered too high to number any after it", segmentName(seqs[len(seqs)-1]))
		}
		s.nextSeq = max(s.nextSeq, seqs[len(seqs)-1]+1)
	}
	// Segments wholly before the checkpoint were acknowledged, but Ack could
	// not delete them.
	for len(seqs) > 0 && seqs[0] < ack.Seg {
		if err := os.Remove(s.segPath(seqs[0])); err != nil {
			return fmt.Errorf("cannot remove acknowledged spool segment: %w", err)
		}
		seqs = seqs[1:]
	}
	r := bufio.NewReaderSize(nil, 256<<10)
	var payload []byte
	for i, seq := range seqs {
		var mark *int64
		at := ack.Off
		if seq == ack.Seg {
			mark = &at
		}
		seg, keep, err := s.recoverSegment(seq, i == len(seqs)-1, mark, r, &payload)
		if err != nil {
			return err
		}
		if at != ack.Off {
			// No consumer acknowledges the middle of a record, and reading
			// from there would stall on it: the record is delivered again.
			s.log.Error("spool checkpoint is inside a record; replaying that record", "checkpoint", ack, "from", at)
			ack.Off = at
		}
		if keep {
			s.segs = append(s.segs, seg)
			s.diskBytes.Add(seg.size)
		}
	}
	s.start = s.clampLocked(ack)
	return nil
}

func (s *Spool) readCheckpoint() Pos {
	path := filepath.Join(s.opts.Dir, checkpointName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Pos{}
	}
	if err == nil {
		var p Pos
		p, err = decodeCheckpoint(b)
		if err == nil {
			return p
		}
	}
	// Replaying from the oldest segment may deliver records twice, but it
	// loses none.
	s.log.Error("cannot read spool checkpoint; replaying every segment", "path", path, "err", err)
	return Pos{}
}

// recoverSegment checks one segment and returns what is known of it, and
// false when the segment was removed because nothing in it was intact. It
// moves mark as scanSegment does.
func (s *Spool) recoverSegment(seq uint64, last bool, mark *int64, r *bufio.Reader, payload *[]byte) (segment, bool, error) {
	path := s.segPath(seq)
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return segment{}, false, fmt.Errorf("cannot open spool segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return segment{}, false, fmt.Errorf("cannot open spool segment: %w", err)
	}
	size := fi.Size()
	end, damage, err := scanSegment(f, size, mark, r, payload)
	if err != nil {
		return segment{}, false, fmt.Errorf("cannot recover spool segment %s: %w", path, err)
	}
	seg := segment{seq: seq, end: end, size: size}
	if damage == "" && end < size && last {
		// Zeros written ahead of appends that did not come: no damage,
		// and no more appends will fill them.
		if err := f.Truncate(end); err != nil {
			return segment{}, false, fmt.Errorf("cannot cut the zeros off spool segment %s: %w", path, err)
		}
		seg.size = end
	}
	if damage == "" {
		return seg, true, nil
	}
	s.truncations++
	attrs := []any{"segment", path, "offset", end, "dropped_bytes", size - end, "damage", damage}
	switch {
	case !last:
		// A later segment exists, so appends continued past this damage; the
		// segment is kept as it is for inspection and read only up to it.
		s.log.Error("spool segment is damaged; skipping its rest", attrs...)
		seg.end = max(end, segmentHeaderSize)
		return seg, true, nil
	case end == 0:
		s.log.Warn("spool segment header is damaged; removing the segment", attrs...)
		if err := os.Remove(path); err != nil {
			return segment{}, false, fmt.Errorf("cannot remove damaged spool segment: %w", err)
		}
		return segment{}, false, nil
	default:
		s.log.Warn("spool segment has a torn tail; truncating it", attrs...)
		err := f.Truncate(end)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			return segment{}, false, fmt.Errorf("cannot truncate damaged spool segment: %w", err)
		}
		seg.size = end
		return seg, true, nil
	}
}

func (s *Spool) segPath(seq uint64) string {
	return filepath.Join(s.opts.Dir, segmentName(seq))
}

// Append stores the records and returns once they are durable, or an error,
// in which case none of them was stored. It returns ErrFull rather than grow
// the spool past Options.MaxBytes. After a write or sync error (a full disk,
// say) the segment is cut back to its last good record, so a later call
// succeeds once the cause is gone. The spool does not keep the slices.
func (s *Spool) Append(recs ...[]byte) error {
	var n int64
	for _, r := range recs {
		if len(r) > MaxRecordSize {
			return fmt.Errorf("cannot append a record of %d bytes: %w", len(r), ErrTooLarge)
		}
		n += recordHeaderSize + int64(len(r))
	}
	if n > s.opts.MaxBytes {
		return fmt.Errorf("cannot append %d bytes to a spool of %d: %w", n, s.opts.MaxBytes, ErrTooLarge)
	}
	now := time.Now().UnixNano()

	s.qmu.Lock()
	if s.closed {
		s.qmu.Unlock()
		return ErrClosed
	}
	if len(recs) == 0 {
		s.qmu.Unlock()
		return nil
	}
	if s.diskBytes.Load()+s.reserved+n > s.opts.MaxBytes {
		s.qmu.Unlock()
		s.refused.Add(1)
		return ErrFull
	}
	b := s.pending
	for _, r := range recs {
		b.buf = appendRecord(b.buf, r, now)
	}
	b.ends = append(b.ends, len(b.buf))
	i := len(b.ends) - 1
	s.reserved += n
	s.qmu.Unlock()

	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-b.done
	if i < b.ok {
		return nil
	}
	return b.err
}

// run is the committer goroutine. While it writes and syncs one batch, the
// next one fills, which is what makes group commit.
func (s *Spool) run() {
	defer close(s.stopped)
	for {
		select {
		case <-s.wake:
			s.flush()
		case <-s.stop:
			// Close has refused new appends before closing stop, so this
			// flush drains every call still waiting.
			s.flush()
			return
		}
	}
}

func (s *Spool) flush() {
	s.qmu.Lock()
	b := s.pending
	if len(b.ends) == 0 {
		s.qmu.Unlock()
		return
	}
	s.pending = &batch{buf: s.spareBuf[:0], ends: s.spareEnds[:0], done: make(chan struct{})}
	s.qmu.Unlock()

	began := time.Now()
	s.commit(b)
	s.commitNanos.Add(int64(time.Since(began)))
	s.commits.Add(1)
	s.committed.Add(int64(b.ok))

	// Bytes move from reserved to diskBytes (in commit) in that order, so
	// that appenders checking MaxBytes never see them in neither.
	s.qmu.Lock()
	s.reserved -= int64(len(b.buf))
	s.qmu.Unlock()
	s.spareBuf, s.spareEnds = nil, nil
	if cap(b.buf) <= keepBufferBytes {
		s.spareBuf, s.spareEnds = b.buf, b.ends
	}
	close(b.done)
	if b.ok > 0 {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// commit writes a batch, rolling to a new segment between calls when the
// active one is full, and sets b.ok and b.err.
func (s *Spool) commit(b *batch) {
	runStart, runFirst, prev := 0, 0, 0
	for i, end := range b.ends {
		if s.needRoll(int64(prev-runStart), int64(end-prev)) {
			if err := s.write(b.buf[runStart:prev]); err != nil {
				s.fail(b, runFirst, err)
				return
			}
			if err := s.roll(); err != nil {
				s.fail(b, i, err)
				return
			}
			runStart, runFirst = prev, i
		}
		prev = end
	}
	if err := s.write(b.buf[runStart:]); err != nil {
		s.fail(b, runFirst, err)
		return
	}
	b.ok = len(b.ends)
	if s.failing {
		s.failing = false
		s.log.Info("spool is writable again")
	}
}

func (s *Spool) fail(b *batch, ok int, err error) {
	b.ok, b.err = ok, err
	s.writeErrors.Add(1)
	s.failing = true
	if now := time.Now(); now.Sub(s.lastErrLog) >= errorLogEvery {
		s.log.Error("cannot store appended records", "err", err, "suppressed", s.suppressed)
		s.lastErrLog, s.suppressed = now, 0
	} else {
		s.suppressed++
	}
}

// needRoll reports whether a call of n bytes must go to a new segment, given
// that queued bytes are already bound for the active one.
func (s *Spool) needRoll(queued, n int64) bool {
	if s.active == nil {
		return true
	}
	size := s.activeEnd + queued
	return size > segmentHeaderSize && size+n > s.opts.SegmentSize
}

// write appends p to the active segment and syncs it. On failure it cuts the
// segment back to its last good record, so that the failed records can
// neither be read nor reappear at the next Open.
func (s *Spool) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	end := s.activeEnd + int64(len(p))
	if end > s.allocated && !s.opts.NoSync && !s.noPrealloc {
		s.preallocate(end)
	}
	_, err := s.active.WriteAt(p, s.activeEnd)
	if err != nil {
		err = fmt.Errorf("cannot write to spool segment: %w", err)
	} else if !s.opts.NoSync {
		sync := datasync
		if end > s.allocated {
			// The file grows: its new size must be durable too.
			sync = (*os.File).Sync
		}
		if err = sync(s.active); err != nil {
			err = fmt.Errorf("cannot sync spool segment: %w", err)
		}
	}
	if err != nil {
		s.rewind(int64(len(p)))
		return err
	}
	s.allocated = max(s.allocated, end)
	s.activeEnd = end
	s.diskBytes.Add(int64(len(p)))
	s.mu.Lock()
	last := &s.segs[len(s.segs)-1]
	last.end, last.size = s.activeEnd, s.activeEnd
	s.mu.Unlock()
	return nil
}

// preallocate writes zeros after the active segment's last byte up to the
// chunk that holds need (or to Options.SegmentSize, or to need, whichever
// is more) and syncs them with the file's size. When that fails (a full
// disk, say), the zeros are cut off again and the rest of the segment is
// appended to without them, synced with fsync as any growing file.
func (s *Spool) preallocate(need int64) {
	target := min((need+preallocChunk-1)/preallocChunk*preallocChunk, max(need, s.opts.SegmentSize))
	var err error
	for at := s.allocated; at < target && err == nil; {
		n := min(target-at, int64(len(zeros)))
		_, err = s.active.WriteAt(zeros[:n], at)
		at += n
	}
	if err == nil {
		err = s.active.Sync()
	}
	if err == nil {
		s.allocated = target
		return
	}
	s.noPrealloc = true
	if terr := s.active.Truncate(s.activeEnd); terr != nil {
		err = errors.Join(err, terr)
	}
	s.allocated = s.activeEnd
	s.log.Warn("cannot write the spool segment's space ahead; appending without it", "segment", s.active.Name(), "err", err)
}

func (s *Spool) rewind(n int64) {
	err := s.active.Truncate(s.activeEnd)
	if err == nil {
		s.allocated = s.activeEnd
		return
	}
	// The failed bytes may stay on disk; sealing the segment at its last good
	// record keeps the reader away from them. The next Open may find them
	// intact and deliver records whose Append failed, which duplicates
	// nothing and loses nothing.
	s.log.Error("cannot cut spool segment back to its last good record; sealing it",
		"segment", s.active.Name(), "offset", s.activeEnd, "err", err)
	s.diskBytes.Add(n)
	s.mu.Lock()
	s.segs[len(s.segs)-1].size += n
	s.mu.Unlock()
	s.seal()
}

// seal closes the active segment; the next write opens a new one.
func (s *Spool) seal() {
	if s.active == nil {
		return
	}
	s.trimZeros()
	if err := s.active.Close(); err != nil {
		s.log.Error("cannot close spool segment", "segment", s.active.Name(), "err", err)
	}
	s.active = nil
	s.mu.Lock()
	s.activeSeq = 0
	s.mu.Unlock()
}

// trimZeros cuts the zeros written ahead off the active segment, which
// takes no more appends. Unsynced: a crash that loses the cut leaves zeros
// after the last record, which Open tells apart from damage.
func (s *Spool) trimZeros() {
	if s.allocated <= s.activeEnd {
		return
	}
	if err := s.active.Truncate(s.activeEnd); err != nil {
		s.log.Warn("cannot cut the zeros off a spool segment", "segment", s.active.Name(), "err", err)
		return
	}
	s.allocated = s.activeEnd
}

// roll seals the active segment, whose records the preceding write synced,
// and creates the next one. A segment that cannot be created is removed, and
// its sequence number is used again by the next attempt.
func (s *Spool) roll() error {
	s.seal()
	s.mu.Lock()
	seq := s.nextSeq
	s.mu.Unlock()
	path := s.segPath(seq)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("cannot create spool segment: %w", err)
	}
	h := segmentHeader()
	_, err = f.WriteAt(h[:], 0)
	if err == nil && !s.opts.NoSync {
		err = f.Sync()
	}
	if err == nil && !s.opts.NoSync {
		err = syncDir(s.opts.Dir)
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("cannot create spool segment: %w", err)
	}
	s.active, s.activeEnd, s.allocated, s.noPrealloc = f, segmentHeaderSize, segmentHeaderSize, false
	s.diskBytes.Add(segmentHeaderSize)
	s.mu.Lock()
	s.segs = append(s.segs, segment{seq: seq, end: segmentHeaderSize, size: segmentHeaderSize})
	s.activeSeq, s.nextSeq = seq, seq+1
	s.mu.Unlock()
	return nil
}

// Notify returns a channel that receives after appends, so that a consumer
// that found nothing to read can wait. It holds at most one signal, which may
// be stale: a consumer must read until ReadFrom returns nothing.
func (s *Spool) Notify() <-chan struct{} {
	return s.notify
}

// Start returns the oldest position still held: the acknowledged position,
// moved forward past segments that no longer exist.
func (s *Spool) Start() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start
}

// End returns the position after the last durable record. A consumer that
// has read up to End has read everything appended so far.
func (s *Spool) End() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endLocked()
}

func (s *Spool) endLocked() Pos {
	if s.activeSeq != 0 {
		return Pos{Seg: s.activeSeq, Off: s.segs[len(s.segs)-1].end}
	}
	return Pos{Seg: s.nextSeq, Off: segmentHeaderSize}
}

// clampLocked moves p to the nearest position that lies in a segment the
// spool holds, or to the end.
func (s *Spool) clampLocked(p Pos) Pos {
	for _, g := range s.segs {
		switch {
		case p.Seg < g.seq:
			return Pos{Seg: g.seq, Off: segmentHeaderSize}
		case p.Seg == g.seq:
			return Pos{Seg: g.seq, Off: min(max(p.Off, segmentHeaderSize), g.end)}
		}
	}
	if end := s.endLocked(); p.Less(end) {
		return end
	}
	return p
}

// Ack records that every record before p is stored elsewhere. It deletes
// the segment files numbered below p.Seg, then writes the checkpoint, so that
// a restart begins at p. Positions before the current Start are ignored; a
// position past End is an error.
//
// Segments are deleted first so that Ack frees space even when the disk is
// too full to write the checkpoint; a crash between the two is harmless,
// because Open begins at the first remaining segment.
func (s *Spool) Ack(p Pos) error {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		return ErrClosed
	}
	if end := s.endLocked(); end.Less(p) {
		s.mu.Unlock()
		return fmt.Errorf("cannot acknowledge %v: past the end of the spool at %v", p, end)
	}
	if !s.start.Less(p) {
		p = s.start
		if !s.dirty {
			s.mu.Unlock()
			return nil
		}
	}
	var doomed []segment
	for _, g := range s.segs {
		if g.seq >= p.Seg || g.seq == s.activeSeq {
			break
		}
		doomed = append(doomed, g)
	}
	s.start = p
	s.mu.Unlock()

	var errs []error
	removed := 0
	for _, g := range doomed {
		if s.rf != nil && s.rfSeq == g.seq {
			_ = s.rf.Close()
			s.rf = nil
		}
		if err := os.Remove(s.segPath(g.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("cannot remove acknowledged spool segment: %w", err))
			break
		}
		s.diskBytes.Add(-g.size)
		removed++
	}
	s.mu.Lock()
	s.segs = slices.Delete(s.segs, 0, removed)
	s.start = s.clampLocked(p)
	s.mu.Unlock()

	s.dirty = false
	if p != s.persisted {
		if err := writeCheckpoint(s.opts.Dir, p); err != nil {
			s.dirty = true
			errs = append(errs, err)
		} else {
			s.persisted = p
		}
	}
	return errors.Join(errs...)
}

// Close stores the records of Append calls already waiting, refuses new
// ones, and releases the directory. Close is idempotent.
func (s *Spool) Close() error {
	s.qmu.Lock()
	if s.closed {
		s.qmu.Unlock()
		return nil
	}
	s.closed = true
	s.qmu.Unlock()
	close(s.stop)
	<-s.stopped

	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	s.shut = true
	s.mu.Unlock()
	var errs []error
	if s.active != nil {
		s.trimZeros()
		if err := s.active.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cannot close spool segment: %w", err))
		}
		s.active = nil
	}
	if s.rf != nil {
		_ = s.rf.Close()
		s.rf = nil
	}
	if s.dirty {
		if err := writeCheckpoint(s.opts.Dir, s.start); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.lockf.Close(); err != nil {
		errs = append(errs, fmt.Errorf("cannot unlock spool directory: %w", err))
	}
	return errors.Join(errs...)
}
