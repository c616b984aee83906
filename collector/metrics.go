package collector

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/spool"
)

type metrics struct {
	received   *prometheus.CounterVec
	accepted   *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	batchSize  prometheus.Histogram
	flushTime  prometheus.Histogram
	flushFails prometheus.Counter

	// The hot path's children, resolved once each: WithLabelValues hashes
	// its labels and looks the child up on every call. A child still
	// shows in /metrics only once it has counted something.
	receivedBy   [maxCode]child
	acceptedBy   [maxCode][maxCode]child
	duplicates   child
	invalidInput child
}

// maxCode bounds the enum codes (source, bot reason) with a resolved
// child; larger ones, which no enum has yet, look their child up each time.
const maxCode = 16

// child is a CounterVec's child, resolved the first time it counts.
type child struct {
	c atomic.Pointer[prometheus.Counter]
}

func (ch *child) inc(vec *prometheus.CounterVec, labels ...string) {
	if c := ch.c.Load(); c != nil {
		(*c).Inc()
		return
	}
	c := vec.WithLabelValues(labels...)
	ch.c.Store(&c)
	c.Inc()
}

func (m *metrics) incReceived(s event.Source) {
	if int(s) < maxCode {
		m.receivedBy[s].inc(m.received, s.String())
		return
	}
	m.received.WithLabelValues(s.String()).Inc()
}

func (m *metrics) incAccepted(s event.Source, bot event.BotReason) {
	if int(s) < maxCode && int(bot) < maxCode {
		m.acceptedBy[s][bot].inc(m.accepted, s.String(), bot.String())
		return
	}
	m.accepted.WithLabelValues(s.String(), bot.String()).Inc()
}

func newMetrics(reg prometheus.Registerer, c *Collector) *metrics {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credstats_events_received_total", Help: "Events received, by source.",
		}, []string{"source"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credstats_events_accepted_total", Help: "Events queued for storage, by source and bot reason (empty for people).",
		}, []string{"source", "bot"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "credstats_events_dropped_total", Help: "Events not stored, by reason.",
		}, []string{"reason"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "credstats_batch_size", Help: "Events per batch written to ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		flushTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "credstats_flush_seconds", Help: "Time to write one batch to ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(0.001, 3, 10),
		}),
		flushFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "credstats_flush_failures_total", Help: "Batch writes that failed and were retried.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.received, m.accepted, m.dropped, m.batchSize, m.flushTime, m.flushFails,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "credstats_queue_depth", Help: "Events waiting in memory for the batch writer (without the spool).",
			}, func() float64 { return float64(c.Backlog().Events) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "credstats_spool_unwritten_bytes", Help: "Bytes of accepted events in the spool not yet written to ClickHouse.",
			}, func() float64 { return float64(c.Backlog().SpoolBytes) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "credstats_spool_oldest_age_seconds", Help: "Age of the oldest event in the spool not yet written to ClickHouse.",
			}, func() float64 {
				if t := c.Backlog().Oldest; t != nil {
					return time.Since(*t).Seconds()
				}
				return 0
			}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "credstats_write_retries_total", Help: "Batch writes to ClickHouse retried after an error.",
			}, func() float64 { return float64(c.Backlog().Retries) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "credstats_spool_damaged_tails_total", Help: "Damaged spool tails cut at start-up.",
			}, func() float64 { return float64(c.Backlog().Truncations) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "credstats_dedup_keys", Help: "Live keys in the 24-hour dedup set.",
			}, func() float64 { return float64(c.dedup.Len()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "credstats_dedup_evictions_total", Help: "Dedup keys dropped before their window ended because the set was full.",
			}, func() float64 { return float64(c.dedup.Evictions()) }),
		)
	}
	return m
}

// registerSpool exports the spool's group commits: appends per commit say
// how many requests share a sync, and seconds per commit what a request
// waits for once its commit has begun.
func registerSpool(reg prometheus.Registerer, sp *spool.Spool) {
	if reg == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "credstats_spool_commits_total", Help: "Group commits to the spool (one write and one sync each).",
		}, func() float64 { n, _, _ := sp.CommitCounts(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "credstats_spool_committed_appends_total", Help: "Requests' appends made durable by the spool's group commits.",
		}, func() float64 { _, n, _ := sp.CommitCounts(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "credstats_spool_commit_seconds_total", Help: "Time the spool's group commits took to write and sync.",
		}, func() float64 { _, _, took := sp.CommitCounts(); return took.Seconds() }),
	)
}

func (m *metrics) observeFlush(n int, took time.Duration, err error) {
	if err != nil {
		m.flushFails.Inc()
		return
	}
	m.batchSize.Observe(float64(n))
	m.flushTime.Observe(took.Seconds())
}
