package collector

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credstats/credstats/internal/dedup"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/logthrottle"
	"github.com/credstats/credstats/internal/spool"
)

// spoolQueue is the durable queue: every accepted event is in the spool
// before it is answered. It lets go of records no further than the last
// dedup snapshot covers, so that after a crash the records since that
// snapshot are still there to rebuild the dedup set from; records read
// again that way are uncertain, and the writer asks the sink's Checker
// about them before sending them.
type spoolQueue struct {
	spool     *spool.Spool
	log       *slog.Logger
	errLog    *slog.Logger // rate-limited, for errors on the hot path or every tick
	metrics   *metrics
	batchSize int
	maxBytes  int64
	posPath   string // where the dedup snapshot's coverage is saved

	// Batches that start before this position were read by an earlier
	// process, which may have stored them without acknowledging.
	uncertainUntil spool.Pos
	covered        atomic.Pointer[spool.Pos] // what the dedup snapshot covers
	inserted       spool.Pos                 // what the sink holds; owned by the writer
	insertedPub    atomic.Pointer[spool.Pos] // inserted, for backlog
	next           spool.Pos                 // after the batch read last
	writeErrors    int64                     // the spool's count when last seen
}

// recordBytes is about what one event takes in the spool, to tell when a
// batch's worth waits.
const recordBytes = 160

// openSpoolQueue opens the spool and puts back into the dedup set the keys
// of the records the last snapshot missed (a crash's). What an earlier
// process left is written first.
func openSpoolQueue(o *Options, set *dedup.Set, snapPath string, m *metrics) (*spoolQueue, error) {
	sp, err := spool.Open(spool.Options{
		Dir: filepath.Join(o.DataDir, "spool"), MaxBytes: o.SpoolMaxBytes,
		// Space comes back a whole segment at a time.
		SegmentSize: min(64<<20, max(o.SpoolMaxBytes/16, 4<<10)),
		NoSync:      o.SpoolNoSync, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	posPath := snapPath + ".pos"
	covered, ok := readCoverage(posPath)
	if !ok || covered.Less(sp.Start()) {
		covered = sp.Start()
	}
	n, err := replayDedup(sp, set, covered)
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("cannot replay the spool into the dedup set: %w", err)
	}
	st := sp.Stats()
	if st.Pending > 0 || st.Truncations > 0 {
		o.Logger.Info("spool recovered", "pending_bytes", st.Pending, "dedup_keys_replayed", n, "damaged_tails_cut", st.Truncations)
	}
	q := &spoolQueue{
		spool: sp, log: o.Logger, errLog: logthrottle.New(o.Logger, 10*time.Second), metrics: m,
		batchSize: o.BatchSize, maxBytes: o.SpoolMaxBytes, posPath: posPath,
		uncertainUntil: sp.End(), inserted: sp.Start(),
	}
	q.next = q.inserted
	start := q.inserted
	q.covered.Store(&covered)
	q.insertedPub.Store(&start)
	return q, nil
}

var recordPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// push appends the event to the spool and returns once it is on disk.
func (q *spoolQueue) push(dedupKey uint64, e event.Event) error {
	bp := recordPool.Get().(*[]byte)
	*bp = appendRecord((*bp)[:0], dedupKey, &e)
	err := q.spool.Append(*bp)
	recordPool.Put(bp)
	switch {
	case errors.Is(err, spool.ErrFull):
		q.metrics.dropped.WithLabelValues("spool_full").Inc()
		return fmt.Errorf("%w: the spool is full, ClickHouse may be down", ErrQueueFull)
	case err != nil:
		q.metrics.dropped.WithLabelValues("spool_error").Inc()
		q.errLog.Error("cannot write to the spool", "err", err)
		return fmt.Errorf("%w: the spool cannot be written", ErrQueueFull)
	}
	return nil
}

func (q *spoolQueue) notify() <-chan struct{} { return q.spool.Notify() }

// fullBatch counts only what follows the writer's own position: the spool
// keeps stored records until the dedup snapshot covers them, and counting
// those would wake the writer for every append.
func (q *spoolQueue) fullBatch() bool {
	unread, _ := q.spool.After(q.inserted)
	return unread >= int64(q.batchSize)*recordBytes
}

func (q *spoolQueue) read() readBatch {
	from := q.inserted
	recs, next, err := q.spool.ReadFrom(from, q.batchSize, q.batchSize*1024)
	if err != nil {
		q.errLog.Error("cannot read the spool", "err", err)
		return readBatch{}
	}
	if len(recs) == 0 {
		q.ack()
		return readBatch{}
	}
	events := make([]event.Event, 0, len(recs))
	for _, rec := range recs {
		_, e, err := decodeRecord(rec)
		if err != nil {
			// The spool checks every record's checksum: this is a bug,
			// not damage, and the record cannot be stored.
			q.log.Error("cannot decode a spool record; dropped", "err", err)
			q.metrics.dropped.WithLabelValues("undecodable").Inc()
			continue
		}
		events = append(events, e)
	}
	q.next = next
	return readBatch{
		Batch: Batch{ID: batchID(from), Events: events}, records: len(recs), full: len(recs) >= q.batchSize,
		uncertain: from.Less(q.uncertainUntil),
		// A position at the end of one segment and the start of the next
		// are the same place: look one segment back for the batch ID.
		checkFrom: batchID(spool.Pos{Seg: max(from.Seg, 1) - 1}), checkTo: batchID(next),
	}
}

func (q *spoolQueue) stored() {
	q.inserted = q.next
	next := q.next
	q.insertedPub.Store(&next)
	q.ack()
}

func (q *spoolQueue) gaveUp(events int) {
	q.log.Warn("stopped retrying at shutdown; the batch stays in the spool", "events", events)
}

// ack trims the spool up to what is both stored and covered by the dedup
// snapshot. When the spool is pressed for room (half full, or its disk
// refusing writes, which may also keep the snapshot from being saved) it
// trims everything stored: a crash before the next snapshot could then
// count a few repeats again, which is better than refusing events.
func (q *spoolQueue) ack() {
	p := q.inserted
	st := q.spool.Stats()
	pressed := st.Bytes > q.maxBytes/2 || st.WriteErrors != q.writeErrors
	q.writeErrors = st.WriteErrors
	if c := *q.covered.Load(); c.Less(p) && !pressed {
		p = c
	}
	if err := q.spool.Ack(p); err != nil {
		q.log.Error("cannot acknowledge the spool", "err", err)
	}
}

// backlog counts only what the sink does not hold yet: the spool keeps
// stored records a little longer, for the dedup set.
func (q *spoolQueue) backlog() Backlog {
	b := Backlog{Truncations: q.spool.Stats().Truncations}
	var oldest time.Time
	b.SpoolBytes, oldest = q.spool.After(*q.insertedPub.Load())
	if !oldest.IsZero() {
		b.Oldest = &oldest
	}
	return b
}

// snapshot also records which records the snapshot covers, so that the
// spool may let go of them.
func (q *spoolQueue) snapshot(save func() error) error {
	end := q.spool.End() // every record before it had its key recorded
	if err := save(); err != nil {
		return err
	}
	if err := writeFileAtomic(q.posPath, end); err != nil {
		return fmt.Errorf("cannot save the dedup set's spool position: %w", err)
	}
	q.covered.Store(&end)
	return nil
}

func (q *spoolQueue) wantsSnapshot() bool { return q.spool.Stats().Bytes > q.maxBytes/2 }

// close leaves what was not written in the spool for the next start.
func (q *spoolQueue) close() error {
	if end := q.spool.End(); q.inserted != end {
		q.log.Warn("shutdown", "err", fmt.Errorf("events from spool position %v to %v are left for the next start", q.inserted, end))
	}
	q.ack()
	return q.spool.Close()
}

// A spool record is the event's dedup key (0 for events that have none)
// followed by the event's binary form. Keeping the key lets a restart
// rebuild the dedup set from the records its last snapshot missed.
func appendRecord(b []byte, dedupKey uint64, e *event.Event) []byte {
	b = binary.LittleEndian.AppendUint64(b, dedupKey)
	return event.AppendBinary(b, e)
}

func decodeRecord(rec []byte) (dedupKey uint64, e event.Event, err error) {
	if len(rec) < 8 {
		return 0, e, event.ErrBadRecord
	}
	e, err = event.DecodeBinary(rec[8:])
	return binary.LittleEndian.Uint64(rec), e, err
}

// batchID turns a spool position into a batch ID that sorts the same way.
func batchID(p spool.Pos) uint64 { return p.Seg<<40 | uint64(p.Off) }

// readCoverage reads the spool position that the dedup snapshot's
// companion file says the snapshot covers.
func readCoverage(path string) (spool.Pos, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return spool.Pos{}, false
	}
	var p spool.Pos
	if json.Unmarshal(b, &p) != nil {
		return spool.Pos{}, false
	}
	return p, true
}

// replayDedup records in set the dedup keys of the spool's records from
// position from on, which the last snapshot does not hold.
func replayDedup(s *spool.Spool, set *dedup.Set, from spool.Pos) (int, error) {
	n := 0
	for {
		recs, next, err := s.ReadFrom(from, 10_000, 0)
		if err != nil {
			return n, err
		}
		if len(recs) == 0 {
			return n, nil
		}
		for _, rec := range recs {
			key, e, err := decodeRecord(rec)
			if err != nil {
				continue
			}
			if key != 0 {
				set.Seen(key, e.Time)
				n++
			}
		}
		from = next
	}
}
