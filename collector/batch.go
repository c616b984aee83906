package collector

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/credstats/credstats/internal/event"
)

// Batch is a run of events written together. With the spool, ID is the
// spool position the batch was read from; the sink stores it with each
// event, so that a batch whose outcome was uncertain can be checked before
// it is sent again. Without the spool it is 0.
type Batch struct {
	ID     uint64
	Events []event.Event
}

// Sink stores batches of events. Write either stores the whole batch or
// returns an error; the writer retries failed batches.
type Sink interface {
	Write(ctx context.Context, b Batch) error
}

// Checker is a Sink that can say which events it already holds among the
// batches with IDs in [from, to), none older than since. The spool writer
// asks it before sending a batch again whose earlier attempt may have been
// stored after all, so that no event is stored twice.
type Checker interface {
	Stored(ctx context.Context, from, to uint64, since time.Time) (map[uuid.UUID]struct{}, error)
}

// BatcherOptions configure a Batcher.
type BatcherOptions struct {
	Sink          Sink
	QueueSize     int           // events waiting for a batch; a full queue refuses
	BatchSize     int           // a batch is written when it reaches this size
	FlushInterval time.Duration // ... or when its oldest event waited this long
	Logger        *slog.Logger
	metrics       *metrics
}

// Batcher owns the batch in one goroutine: handlers hand it events with
// TryPush, which never blocks, and it writes them to the sink in batches.
type Batcher struct {
	o        BatcherOptions
	queue    chan event.Event
	stop     chan struct{}
	done     chan struct{}
	closing  atomic.Bool
	abortCtx context.Context // ends when Close gives up waiting
	abort    context.CancelFunc
	lost     atomic.Int64
}

// writeTimeout bounds one write, so a server that hangs is retried.
const writeTimeout = 30 * time.Second

func newBatcher(o BatcherOptions) *Batcher {
	b := &Batcher{
		o:     o,
		queue: make(chan event.Event, o.QueueSize),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	b.abortCtx, b.abort = context.WithCancel(context.Background())
	go b.run()
	return b
}

// TryPush queues e for the next batch; false means the queue is full (or
// the batcher is closing) and e was not taken.
func (b *Batcher) TryPush(e event.Event) bool {
	if b.closing.Load() {
		return false
	}
	select {
	case b.queue <- e:
		return true
	default:
		return false
	}
}

// Len is the number of events waiting in the queue.
func (b *Batcher) Len() int { return len(b.queue) }

// Close stops taking events, writes what is queued and waits for the
// writer. When ctx ends first, the writer gives up; Close returns how many
// events were not written.
func (b *Batcher) Close(ctx context.Context) int64 {
	if !b.closing.Swap(true) {
		close(b.stop)
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		b.abort()
		<-b.done
	}
	b.abort()
	return b.lost.Load()
}

func (b *Batcher) run() {
	defer close(b.done)
	batch := make([]event.Event, 0, b.o.BatchSize)
	ticker := time.NewTicker(b.o.FlushInterval)
	defer ticker.Stop()
	for {
		select {
		case e := <-b.queue:
			batch = append(batch, e)
			if len(batch) >= b.o.BatchSize {
				batch = b.flush(batch)
			}
		case <-ticker.C:
			batch = b.flush(batch)
		case <-b.stop:
			for {
				select {
				case e := <-b.queue:
					batch = append(batch, e)
					if len(batch) >= b.o.BatchSize {
						batch = b.flush(batch)
					}
				default:
					b.flush(batch)
					return
				}
			}
		}
	}
}

// flush writes the batch, retrying with backoff and jitter until it is
// stored. While it retries the queue fills and TryPush refuses: that is
// the backpressure handlers answer 503 with. It gives up only when Close
// stops waiting.
func (b *Batcher) flush(batch []event.Event) []event.Event {
	if len(batch) == 0 {
		return batch
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		start := time.Now()
		ctx, cancel := context.WithTimeout(b.abortCtx, writeTimeout)
		err := b.o.Sink.Write(ctx, Batch{Events: batch})
		cancel()
		b.o.metrics.observeFlush(len(batch), time.Since(start), err)
		if err == nil {
			return batch[:0]
		}
		if attempt == 1 || attempt%20 == 0 {
			b.o.Logger.Error("cannot write batch, retrying", "events", len(batch), "attempt", attempt, "err", err)
		}
		select {
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		case <-b.abortCtx.Done():
			b.lost.Add(int64(len(batch)))
			b.o.Logger.Error("gave up writing a batch at shutdown", "events", len(batch))
			return batch[:0]
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
