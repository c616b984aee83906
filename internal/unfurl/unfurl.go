// Package unfurl records and counts the fetches of credentials' social
// cards by link-preview crawlers (see catalog.UnfurlsTable): one insert a
// batch, from one goroutine that its owner stops.
package unfurl

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/credstats/credstats/internal/event"
)

// Unfurl is one crawler's fetch of a credential's card.
type Unfurl struct {
	Time       time.Time
	Credential string
	Network    event.Network
	Crawler    string
}

// Options configure a Recorder; zero values take the defaults.
type Options struct {
	Conn   driver.Conn
	Logger *slog.Logger
	// Queue is how many unfurls may wait for their batch; more are
	// refused and counted. Default 10,000.
	Queue int
	// Flush is how often a batch is written; default 1s.
	Flush time.Duration
	// Seen is how many (credential, network, hour) keys are remembered to
	// write each once; default 100,000. Counting is exact without it.
	Seen int
}

// Recorder writes unfurls in batches. Record never blocks.
type Recorder struct {
	o       Options
	in      chan Unfurl
	seen    *lru.Cache[string, struct{}]
	stop    chan struct{}
	done    sync.WaitGroup
	refused atomic.Int64
	// ctx bounds every write; Close cancels it when its own context ends.
	ctx   context.Context
	abort context.CancelFunc
	final error // the last batch's, read after done
}

// NewRecorder starts a recorder; Close stops it.
func NewRecorder(o Options) *Recorder {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Queue <= 0 {
		o.Queue = 10_000
	}
	if o.Flush <= 0 {
		o.Flush = time.Second
	}
	if o.Seen <= 0 {
		o.Seen = 100_000
	}
	seen, err := lru.New[string, struct{}](o.Seen)
	if err != nil {
		panic(err) // o.Seen is positive.
	}
	r := &Recorder{o: o, in: make(chan Unfurl, o.Queue), seen: seen, stop: make(chan struct{})}
	r.ctx, r.abort = context.WithCancel(context.Background())
	r.done.Add(1)
	go r.run()
	return r
}

// Record queues an unfurl unless one of the same credential, network and
// hour was queued already; it reports false when the queue was full.
func (r *Recorder) Record(u Unfurl) bool {
	key := u.Credential + "\x00" + u.Network.String() + "\x00" + strconv.FormatInt(u.Time.Unix()/3600, 10)
	if ok, _ := r.seen.ContainsOrAdd(key, struct{}{}); ok {
		return true
	}
	select {
	case r.in <- u:
		return true
	default:
		r.seen.Remove(key)
		r.refused.Add(1)
		return false
	}
}

// Refused is how many unfurls found the queue full.
func (r *Recorder) Refused() int64 { return r.refused.Load() }

// Close stops the recorder after writing what it holds; when ctx ends
// first, the last write is abandoned and its error returned.
func (r *Recorder) Close(ctx context.Context) error {
	close(r.stop)
	stop := context.AfterFunc(ctx, r.abort)
	r.done.Wait()
	stop()
	r.abort()
	return r.final
}

func (r *Recorder) run() {
	defer r.done.Done()
	tick := time.NewTicker(r.o.Flush)
	defer tick.Stop()
	var batch []Unfurl
	for {
		select {
		case u := <-r.in:
			batch = append(batch, u)
			if len(batch) < 1000 {
				continue
			}
		case <-tick.C:
		case <-r.stop:
			for len(r.in) > 0 {
				batch = append(batch, <-r.in)
			}
			r.final = r.write(batch)
			return
		}
		r.write(batch)
		batch = batch[:0]
	}
}

// write inserts a batch; a failed one is logged and dropped: unfurls are
// evidence, not events a client was promised.
func (r *Recorder) write(batch []Unfurl) error {
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	if err := insert(ctx, r.o.Conn, batch); err != nil {
		r.o.Logger.Warn("cannot write unfurls", "count", len(batch), "err", err)
		return fmt.Errorf("cannot write the last %d unfurls: %w", len(batch), err)
	}
	return nil
}

func insert(ctx context.Context, conn driver.Conn, batch []Unfurl) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO unfurls (time, credential, network, crawler)")
	if err != nil {
		return fmt.Errorf("cannot prepare the unfurls' insert: %w", err)
	}
	defer b.Abort()
	for _, u := range batch {
		if err := b.Append(u.Time, u.Credential, u.Network.String(), u.Crawler); err != nil {
			return fmt.Errorf("cannot append an unfurl: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot insert %d unfurls: %w", len(batch), err)
	}
	return nil
}

// countSQL counts each credential's unfurls by network once an hour.
const countSQL = `SELECT toString(network), toFloat64(uniqExact(credential, toStartOfHour(time)))
FROM unfurls WHERE time >= toDateTime(?) AND time < toDateTime(?) AND (? = '' OR credential = ?)
GROUP BY network`

// Counts returns the unfurls of [from, to) by network, each credential,
// network and hour once; credential "" counts every credential, and a zero
// from counts from the start.
func Counts(ctx context.Context, conn driver.Conn, credential string, from, to time.Time) (map[string]float64, error) {
	rows, err := conn.Query(ctx, countSQL, max(from.Unix(), 0), to.Unix(), credential, credential)
	if err != nil {
		return nil, fmt.Errorf("cannot count unfurls: %w", err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var n string
		var c float64
		if err := rows.Scan(&n, &c); err != nil {
			return nil, fmt.Errorf("cannot count unfurls: %w", err)
		}
		out[n] = c
	}
	return out, rows.Err()
}
