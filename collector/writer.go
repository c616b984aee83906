package collector

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// writeTimeout bounds one write, so a server that hangs is retried.
const writeTimeout = 30 * time.Second

// writer is the one goroutine that takes batches from the queue and
// writes them to the sink: when a whole batch waits, or every flush
// interval. While it retries a batch the queue fills, and a full queue
// refuses events: that is the backpressure handlers answer 503 with.
type writer struct {
	q        queue
	sink     Sink
	log      *slog.Logger
	metrics  *metrics
	interval time.Duration

	stop     chan struct{}
	done     chan struct{}
	abortCtx context.Context // ends when close gives up waiting
	abort    context.CancelFunc
	retries  atomic.Int64
}

func startWriter(q queue, o *Options, m *metrics) *writer {
	w := &writer{
		q: q, sink: o.Sink, log: o.Logger, metrics: m, interval: o.FlushInterval,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	w.abortCtx, w.abort = context.WithCancel(context.Background())
	go w.run()
	return w
}

// close writes what is queued until ctx ends, then stops; what is not
// written stays in the queue.
func (w *writer) close(ctx context.Context) {
	close(w.stop)
	select {
	case <-w.done:
	case <-ctx.Done():
		w.abort()
		<-w.done
	}
	w.abort()
}

func (w *writer) run() {
	defer close(w.done)
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	for {
		select {
		case <-w.stop:
			w.drain()
			return
		case <-ticker.C:
		case <-w.q.notify():
			if !w.q.fullBatch() {
				continue
			}
		}
		w.drain()
	}
}

// drain writes batches until the queue has no full batch left, or the
// writer gives up at shutdown.
func (w *writer) drain() {
	for {
		b := w.q.read()
		if b.records == 0 {
			return
		}
		if len(b.Events) > 0 && !w.write(&b) {
			return
		}
		w.q.stored()
		if !b.full {
			return
		}
	}
}

// write stores the batch, retrying with backoff and jitter. Before
// sending a batch that may already be stored, in part or whole, it asks
// the sink which events it holds and sends only the others. It gives up
// only when close stops waiting.
func (w *writer) write(b *readBatch) bool {
	uncertain := b.uncertain
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := w.attempt(b, uncertain)
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
			w.q.gaveUp(len(b.Events))
			return false
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (w *writer) attempt(b *readBatch, uncertain bool) error {
	ctx, cancel := context.WithTimeout(w.abortCtx, writeTimeout)
	defer cancel()
	if checker, ok := w.sink.(Checker); ok && uncertain && b.checkTo != 0 {
		if err := w.skipStored(ctx, checker, b); err != nil {
			return err
		}
		if len(b.Events) == 0 {
			return nil
		}
	}
	start := time.Now()
	err := w.sink.Write(ctx, b.Batch)
	w.metrics.observeFlush(len(b.Events), time.Since(start), err)
	return err
}

// skipStored removes from the batch the events the sink holds already.
func (w *writer) skipStored(ctx context.Context, checker Checker, b *readBatch) error {
	since := b.Events[0].Time
	for _, e := range b.Events {
		if e.Time.Before(since) {
			since = e.Time
		}
	}
	stored, err := checker.Stored(ctx, b.checkFrom, b.checkTo, since)
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
	return nil
}
