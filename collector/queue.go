package collector

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/credstats/credstats/internal/event"
)

// queue holds accepted events until the writer has stored them: the spool
// on disk (spoolQueue), or with NoSpool a bounded memory queue. Handlers
// call push; the writer alone calls notify, fullBatch, read, stored and
// gaveUp; close comes once the writer has stopped.
type queue interface {
	// push takes an accepted event or refuses it with an error wrapping
	// ErrQueueFull. dedupKey is the event's dedup key, 0 when it has none.
	push(dedupKey uint64, e event.Event) error

	// notify receives after pushes; fullBatch reports whether a whole
	// batch waits that the writer has not read yet.
	notify() <-chan struct{}
	fullBatch() bool
	// read returns the events after the last batch stored, at most a
	// batch of them; none when nothing waits or the queue cannot be read.
	read() readBatch
	// stored moves past the batch read last, which the sink now holds.
	stored()
	// gaveUp says the writer stopped retrying that batch at shutdown.
	gaveUp(events int)

	backlog() Backlog
	// snapshot saves the dedup set with save. The spool keeps the records
	// since the last snapshot, to rebuild the set from after a crash, and
	// asks for an early one with wantsSnapshot when it runs short of room.
	snapshot(save func() error) error
	wantsSnapshot() bool
	// close reports what the queue could not keep.
	close() error
}

// readBatch is a batch read from a queue and not yet stored.
type readBatch struct {
	Batch
	// records counts what was read, including records that could not be
	// decoded; full says it was all a batch may take, so more may wait.
	records int
	full    bool
	// uncertain says an earlier process may have stored the batch. When an
	// attempt's outcome is in doubt, the Checker is asked about batch IDs
	// in [checkFrom, checkTo); checkTo 0 means the batch cannot be checked.
	uncertain          bool
	checkFrom, checkTo uint64
}

// memoryQueue keeps events in memory: a crash or a shutdown that cannot
// write them loses them, and Close says how many.
type memoryQueue struct {
	events    chan event.Event
	wake      chan struct{}
	batchSize int
	full      int // events that wake the writer early
	buf       []event.Event
	closed    atomic.Bool
	lost      int64 // owned by the writer until close
	log       *slog.Logger
	metrics   *metrics
}

func newMemoryQueue(o *Options, m *metrics) *memoryQueue {
	return &memoryQueue{
		events:    make(chan event.Event, o.QueueSize),
		wake:      make(chan struct{}, 1),
		batchSize: o.BatchSize,
		// A queue smaller than a batch must not wait for the ticker once full.
		full:    min(o.BatchSize, o.QueueSize),
		log:     o.Logger,
		metrics: m,
	}
}

func (q *memoryQueue) push(_ uint64, e event.Event) error {
	if !q.closed.Load() {
		select {
		case q.events <- e:
			if len(q.events) >= q.full {
				select {
				case q.wake <- struct{}{}:
				default:
				}
			}
			return nil
		default:
		}
	}
	q.metrics.dropped.WithLabelValues("queue_full").Inc()
	return ErrQueueFull
}

func (q *memoryQueue) notify() <-chan struct{} { return q.wake }

func (q *memoryQueue) fullBatch() bool { return len(q.events) >= q.full }

func (q *memoryQueue) read() readBatch {
	q.buf = q.buf[:0]
	for len(q.buf) < q.batchSize {
		select {
		case e := <-q.events:
			q.buf = append(q.buf, e)
			continue
		default:
		}
		break
	}
	return readBatch{Batch: Batch{Events: q.buf}, records: len(q.buf), full: len(q.buf) == q.batchSize}
}

func (q *memoryQueue) stored() {}

func (q *memoryQueue) gaveUp(events int) {
	q.lost += int64(events)
	q.log.Error("gave up writing a batch at shutdown", "events", events)
}

func (q *memoryQueue) backlog() Backlog { return Backlog{Events: len(q.events)} }

func (q *memoryQueue) snapshot(save func() error) error { return save() }

func (q *memoryQueue) wantsSnapshot() bool { return false }

func (q *memoryQueue) close() error {
	q.closed.Store(true)
	if lost := q.lost + int64(len(q.events)); lost > 0 {
		return fmt.Errorf("cannot write %d events before shutdown", lost)
	}
	return nil
}
