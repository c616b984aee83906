// Package loadgen sends credential events to a collector the way real
// pages do: many client addresses, a few popular credentials and a long
// tail of others, mostly views, some duplicates and bots. It drives load
// either closed (a fixed number of connections, as fast as they go) or
// open (a fixed arrival rate, with latency measured from when each request
// was due, so queueing is not hidden).
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Options describe one run.
type Options struct {
	URL         string        // the full event URL, e.g. http://127.0.0.1:8080/api/event
	Connections int           // concurrent requests; default 64
	Rate        float64       // requests a second for an open model; 0 runs closed
	Duration    time.Duration // how long to send; default 10s
	Requests    int64         // stop after this many requests (0: no limit)
	Seed        uint64        // makes a run repeatable; 0 picks one at random (Result.Seed)

	Credentials int     // distinct credentials, Zipf-distributed; default 100,000
	Clients     int     // distinct client addresses sent as X-Forwarded-For; default 50,000 (0 sends none)
	Duplicates  float64 // share of requests that repeat an earlier one; 0 sends none
	Bots        float64 // share of requests with a crawler's user agent; 0 sends none
	// Unique gives every event its own credential id (RunID-sequence) and
	// records the ids the collector acknowledged, for loss checks.
	Unique bool
	RunID  string
	// Body overrides the generated traffic with one fixed body.
	Body []byte
}

// Result is what a run measured.
type Result struct {
	Requests  int64
	Status    map[int]int64
	Errors    int64 // transport errors
	Elapsed   time.Duration
	Latencies []time.Duration // sorted; one per answered request
	Acked     []string        // with Unique: the credential ids answered 2xx
	Seed      uint64          // the seed the run used
}

// Throughput is answered requests a second.
func (r Result) Throughput() float64 {
	return float64(len(r.Latencies)) / r.Elapsed.Seconds()
}

// Percentile returns the latency at p (0-100).
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(r.Latencies)))) - 1
	return r.Latencies[max(0, min(i, len(r.Latencies)-1))]
}

const (
	browserUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	mobileUA  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
	botUA     = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

var networks = []string{"linkedin", "linkedin", "linkedin", "twitter", "facebook", "whatsapp", "email", "telegram", "messenger", "pinterest", "weibo", "other"}

// traffic makes request bodies; one per worker, so no locking.
type traffic struct {
	o      *Options
	rng    *rand.Rand
	zipf   *rand.Zipf
	recent [][3]string // earlier (body, xff, ua) to repeat
	seq    *atomic.Int64
}

func (t *traffic) next() (body []byte, xff, ua, id string) {
	o := t.o
	if o.Body != nil {
		return o.Body, "", browserUA, ""
	}
	if !o.Unique && len(t.recent) > 0 && t.rng.Float64() < o.Duplicates {
		r := t.recent[t.rng.IntN(len(t.recent))]
		return []byte(r[0]), r[1], r[2], ""
	}
	var cred string
	if o.Unique {
		id = o.RunID + "-" + strconv.FormatInt(t.seq.Add(1), 10)
		cred = id
	} else {
		cred = "cred-" + strconv.FormatUint(t.zipf.Uint64(), 36)
	}
	typ, network := "view", ""
	switch x := t.rng.Float64(); {
	case x < 0.70:
	case x < 0.85:
		typ, network = "share", networks[t.rng.IntN(len(networks))]
	case x < 0.92:
		typ = "download"
	case x < 0.96:
		typ = "linkedin_add"
	case x < 0.98:
		typ = "link_copy"
	default:
		typ = "verify"
	}
	actor := "guest"
	if t.rng.Float64() < 0.2 {
		actor = "recipient"
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"credential":"`...)
	b = append(b, cred...)
	b = append(b, `","type":"`...)
	b = append(b, typ...)
	if network != "" {
		b = append(b, `","network":"`...)
		b = append(b, network...)
	}
	b = append(b, `","actor":"`...)
	b = append(b, actor...)
	b = append(b, `","group":"program-`...)
	b = strconv.AppendInt(b, int64(len(cred)%7), 10)
	b = append(b, `","url":"https://certs.example.org/c/`...)
	b = append(b, cred...)
	b = append(b, `","referrer":"https://www.linkedin.com/feed/"}`...)
	if o.Clients > 0 {
		n := t.rng.IntN(o.Clients)
		xff = fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
	}
	ua = browserUA
	switch x := t.rng.Float64(); {
	case x < o.Bots:
		ua = botUA
	case x < 0.4:
		ua = mobileUA
	}
	if !o.Unique {
		if len(t.recent) < 1024 {
			t.recent = append(t.recent, [3]string{string(b), xff, ua})
		} else {
			t.recent[t.rng.IntN(len(t.recent))] = [3]string{string(b), xff, ua}
		}
	}
	return b, xff, ua, id
}

func (o *Options) fill() error {
	if o.URL == "" {
		return errors.New("loadgen: a URL is required")
	}
	if o.Connections <= 0 {
		o.Connections = 64
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Credentials <= 0 {
		o.Credentials = 100_000
	}
	if o.Clients < 0 {
		o.Clients = 0
	} else if o.Clients == 0 {
		o.Clients = 50_000
	}
	if o.Duplicates < 0 || o.Duplicates > 1 || o.Bots < 0 || o.Bots > 1 {
		return errors.New("duplicates and bots are shares from 0 to 1")
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64() | 1
	}
	if o.RunID == "" {
		o.RunID = "load" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	}
	return nil
}

// Run sends load until the duration or request count is reached, or ctx
// ends.
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.fill(); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	client := &fasthttp.Client{
		MaxConnsPerHost:     o.Connections,
		ReadTimeout:         30 * time.Second,
		WriteTimeout:        30 * time.Second,
		MaxIdleConnDuration: time.Minute,
	}
	// In the open model a dispatcher hands out the times requests are due;
	// workers measure from that time, so a slow server cannot slow the
	// arrivals and hide its queue.
	var due chan time.Time
	if o.Rate > 0 {
		due = make(chan time.Time, 1<<16)
		go dispatch(ctx, o.Rate, due)
	}
	var sent, seq atomic.Int64
	type workerResult struct {
		lat    []time.Duration
		status map[int]int64
		errs   int64
		acked  []string
	}
	results := make([]workerResult, o.Connections)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seed := o.Seed*1000 + uint64(w)
			rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
			t := &traffic{o: &o, rng: rng, zipf: rand.NewZipf(rng, 1.1, 1, uint64(o.Credentials-1)), seq: &seq}
			r := workerResult{status: map[int]int64{}}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for {
				var at time.Time
				if due != nil {
					var ok bool
					select {
					case at, ok = <-due:
					case <-ctx.Done():
					}
					if !ok {
						results[w] = r
						return
					}
				} else if ctx.Err() != nil {
					results[w] = r
					return
				}
				if o.Requests > 0 && sent.Add(1) > o.Requests {
					results[w] = r
					return
				}
				if at.IsZero() {
					at = time.Now()
				}
				body, xff, ua, id := t.next()
				req.Reset()
				req.SetRequestURI(o.URL)
				req.Header.SetMethod(fasthttp.MethodPost)
				req.Header.SetContentType("text/plain;charset=UTF-8")
				req.Header.SetUserAgent(ua)
				if xff != "" {
					req.Header.Set("X-Forwarded-For", xff)
				}
				req.SetBody(body)
				err := client.Do(req, resp)
				if err != nil {
					r.errs++
					continue
				}
				r.lat = append(r.lat, time.Since(at))
				code := resp.StatusCode()
				r.status[code]++
				if id != "" && code >= 200 && code < 300 {
					r.acked = append(r.acked, id)
				}
			}
		}()
	}
	wg.Wait()
	res := Result{Status: map[int]int64{}, Elapsed: time.Since(start), Seed: o.Seed}
	for _, r := range results {
		res.Latencies = append(res.Latencies, r.lat...)
		res.Errors += r.errs
		res.Acked = append(res.Acked, r.acked...)
		for k, v := range r.status {
			res.Status[k] += v
		}
	}
	res.Requests = int64(len(res.Latencies)) + res.Errors
	slices.Sort(res.Latencies)
	return res, nil
}

func dispatch(ctx context.Context, rate float64, due chan<- time.Time) {
	defer close(due)
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	for {
		now := time.Now()
		for !next.After(now) {
			select {
			case due <- next:
			case <-ctx.Done():
				return
			}
			next = next.Add(interval)
		}
		select {
		case <-time.After(next.Sub(now)):
		case <-ctx.Done():
			return
		}
	}
}
