package collector

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credstats/credstats/internal/dedup"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/logthrottle"
	"github.com/credstats/credstats/internal/spool"
)

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

var recordPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// batchID turns a spool position into a batch ID that sorts the same way.
func batchID(p spool.Pos) uint64 { return p.Seg<<40 | uint64(p.Off) }

// spoolWriter reads the spool in batches, writes them to the sink and
// acknowledges them. It acknowledges no further than the last dedup
// snapshot covers, so that after a crash the records since that snapshot
// are still there to rebuild the dedup set from; records read again that
// way are filtered by the sink's Checker before they are sent.
type spoolWriter struct {
	spool     *spool.Spool
	sink      Sink
	log       *slog.Logger
	errLog    *slog.Logger // rate-limited, for errors that repeat every tick
	metrics   *metrics
	batchSize int
	interval  time.Duration

	// Batches that start before this position were read by an earlier
	// process, which may have stored them without acknowledging.
	uncertainUntil spool.Pos
	covered        atomic.Pointer[spool.Pos] // what the dedup snapshot covers
	inserted       spool.Pos                 // owned by run
	insertedPub    atomic.Pointer[spool.Pos] // inserted, for Backlog
	maxBytes       int64
	writeErrors    int64 // the spool's count when last seen

	stop     chan struct{}
	done     chan struct{}
	abortCtx context.Context
	abort    context.CancelFunc
	retries  atomic.Int64
}

func newSpoolWriter(s *spool.Spool, sink Sink, covered spool.Pos, o *Options, m *metrics) *spoolWriter {
	w := &spoolWriter{
		spool: s, sink: sink, log: o.Logger, errLog: logthrottle.New(o.Logger, 10*time.Second), metrics: m,
		batchSize: o.BatchSize, interval: o.FlushInterval, maxBytes: o.SpoolMaxBytes,
		uncertainUntil: s.End(), inserted: s.Start(),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	w.covered.Store(&covered)
	w.insertedPub.Store(&w.inserted)
	w.abortCtx, w.abort = context.WithCancel(context.Background())
	go w.run()
	return w
}

// cover records that the dedup snapshot now covers every record before p.
func (w *spoolWriter) cover(p spool.Pos) { w.covered.Store(&p) }

// close writes what the spool holds until ctx ends, then stops. What is
// not written stays in the spool for the next start.
func (w *spoolWriter) close(ctx context.Context) error {
	close(w.stop)
	select {
	case <-w.done:
	case <-ctx.Done():
		w.abort()
		<-w.done
	}
	w.abort()
	if end := w.spool.End(); w.inserted != end {
		return fmt.Errorf("events from spool position %v to %v are left for the next start", w.inserted, end)
	}
	return nil
}

func (w *spoolWriter) run() {
	defer close(w.done)
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	// A full batch need not wait for the ticker.
	fullBytes := int64(w.batchSize) * 160
	for {
		select {
		case <-w.stop:
			for w.drain() {
			}
			return
		case <-ticker.C:
		case <-w.spool.Notify():
			if w.spool.Stats().Pending < fullBytes {
				continue
			}
		}
		w.drain()
	}
}

// drain writes batches until the spool is read to its end; it reports
// whether there may be more (false once nothing is left, or on giving up).
func (w *spoolWriter) drain() bool {
	for {
		from := w.inserted
		recs, next, err := w.spool.ReadFrom(from, w.batchSize, w.batchSize*1024)
		if err != nil {
			w.errLog.Error("cannot read the spool", "err", err)
			return false
		}
		if len(recs) == 0 {
			w.ack()
			return false
		}
		events := make([]event.Event, 0, len(recs))
		for _, rec := range recs {
			_, e, err := decodeRecord(rec)
			if err != nil {
				// The spool checks every record's checksum: this is a bug,
				// not damage, and the record cannot be stored.
				w.log.Error("cannot decode a spool record; dropped", "err", err)
				w.metrics.dropped.WithLabelValues("undecodable").Inc()
				continue
			}
			events = append(events, e)
		}
		if !w.write(Batch{ID: batchID(from), Events: events}, from, next) {
			return false
		}
		w.inserted = next
		w.insertedPub.Store(&next)
		w.ack()
		if len(recs) < w.batchSize {
			return false
		}
	}
}

// ack trims the spool up to what is both stored and covered by the dedup
// snapshot. When the spool is pressed for room (half full, or its disk
// refusing writes, which may also keep the snapshot from being saved) it
// trims everything stored: a crash before the next snapshot could then
// count a few repeats again, which is better than refusing events.
func (w *spoolWriter) ack() {
	p := w.inserted
	st := w.spool.Stats()
	pressed := st.Bytes > w.maxBytes/2 || st.WriteErrors != w.writeErrors
	w.writeErrors = st.WriteErrors
	if c := *w.covered.Load(); c.Less(p) && !pressed {
		p = c
	}
	if err := w.spool.Ack(p); err != nil {
		w.log.Error("cannot acknowledge the spool", "err", err)
	}
}

// write stores the batch, retrying with backoff and jitter. Before sending
// a batch that may already be stored, in part or whole, it asks the sink
// which events it holds and sends only the others. It gives up only when
// close stops waiting.
func (w *spoolWriter) write(b Batch, from, to spool.Pos) bool {
	uncertain := from.Less(w.uncertainUntil)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := w.attempt(&b, from, to, uncertain)
		if err == nil {
			return true
		}
		// A failed insert may still have reached the server.
		uncertain = true
		w.retries.Add(1)
		if attempt == 1 || attempt%20 == 0 {
			w.log.Error("cannot write batch, retrying", "events", len(b.Events), "attempt", attempt, "err", err)
		}
		select {
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		case <-w.abortCtx.Done():
			w.log.Warn("stopped retrying at shutdown; the batch stays in the spool", "events", len(b.Events))
			return false
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (w *spoolWriter) attempt(b *Batch, from, to spool.Pos, uncertain bool) error {
	ctx, cancel := context.WithTimeout(w.abortCtx, writeTimeout)
	defer cancel()
	if checker, ok := w.sink.(Checker); ok && uncertain && len(b.Events) > 0 {
		since := b.Events[0].Time
		for _, e := range b.Events {
			if e.Time.Before(since) {
				since = e.Time
			}
		}
		// A position at the end of one segment and the start of the next
		// are the same place: look one segment back for the batch ID.
		low := spool.Pos{Seg: max(from.Seg, 1) - 1}
		stored, err := checker.Stored(ctx, batchID(low), batchID(to), since)
		if err != nil {
			return err
		}
		kept := b.Events[:0]
		for _, e := range b.Events {
			if _, ok := stored[e.ID]; !ok {
				kept = append(kept, e)
			}
		}
		if skipped := len(b.Events) - len(kept); skipped > 0 {
			w.log.Info("a retried batch was partly stored already; sending the rest", "stored", skipped, "rest", len(kept))
			w.metrics.dropped.WithLabelValues("already_stored").Add(float64(skipped))
		}
		b.Events = kept
		if len(kept) == 0 {
			return nil
		}
	}
	start := time.Now()
	err := w.sink.Write(ctx, *b)
	w.metrics.observeFlush(len(b.Events), time.Since(start), err)
	return err
}

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

// spoolEvent appends the event to the spool and returns once it is on disk.
func (c *Collector) spoolEvent(dedupKey uint64, e *event.Event) error {
	bp := recordPool.Get().(*[]byte)
	*bp = appendRecord((*bp)[:0], dedupKey, e)
	err := c.spool.Append(*bp)
	recordPool.Put(bp)
	switch {
	case errors.Is(err, spool.ErrFull):
		c.metrics.dropped.WithLabelValues("spool_full").Inc()
		return fmt.Errorf("%w: the spool is full, ClickHouse may be down", ErrQueueFull)
	case err != nil:
		c.metrics.dropped.WithLabelValues("spool_error").Inc()
		c.errLog.Error("cannot write to the spool", "err", err)
		return fmt.Errorf("%w: the spool cannot be written", ErrQueueFull)
	}
	return nil
}
