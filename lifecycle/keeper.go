package lifecycle

import (
	"context"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
)

// KeeperOptions configure a Keeper; zero values take the defaults.
type KeeperOptions struct {
	Conn       driver.Conn // required: a connection that may write
	Retention  Retention
	Every      time.Duration    // how often old months are looked for; default 1h
	Now        func() time.Time // default time.Now
	Logger     *slog.Logger     // default: discard
	Registerer prometheus.Registerer
	// Cluster names the cluster of a database migrated with --cluster,
	// whose raw events live on its shards; DSN then reaches its servers
	// (the user and database to use there). Empty for one server.
	Cluster, DSN string
}

// Keeper applies the retention: it drops the months of raw events past
// it, at start and then every hour, and shows in metrics what it keeps.
// On the same passes it merges the views rollups' months (CompactViews).
type Keeper struct {
	o        KeeperOptions
	since    prometheus.Gauge
	dropped  prometheus.Counter
	failures prometheus.Counter
	merged   prometheus.Counter
}

// NewKeeper makes a Keeper and registers its metrics.
func NewKeeper(o KeeperOptions) *Keeper {
	if o.Every <= 0 {
		o.Every = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	k := &Keeper{
		o: o,
		since: prometheus.NewGauge(prometheus.GaugeOpts{Name: "credstats_raw_events_since_timestamp_seconds",
			Help: "Start of the oldest month whose raw events are kept (0: none stored); rollups keep counts from before it."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "credstats_retention_months_dropped_total",
			Help: "Monthly partitions of raw events dropped because they were past the retention."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "credstats_retention_failures_total",
			Help: "Retention passes that failed (ClickHouse unreachable or refusing); the next pass tries again."}),
		merged: prometheus.NewCounter(prometheus.CounterOpts{Name: "credstats_views_rollup_months_merged_total",
			Help: "Months of the views rollups merged into one part, so that each day is one row for the daily series."}),
	}
	months := prometheus.NewGauge(prometheus.GaugeOpts{Name: "credstats_retention_months",
		Help: "Whole months of raw events kept (--retention); 0 keeps them forever."})
	months.Set(float64(o.Retention))
	if o.Registerer != nil {
		o.Registerer.MustRegister(months, k.since, k.dropped, k.failures, k.merged)
	}
	return k
}

// Run applies the retention until ctx ends.
func (k *Keeper) Run(ctx context.Context) {
	for {
		k.pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(k.o.Every):
		}
	}
}

func (k *Keeper) pass(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	dropOld, rawSince := func() ([]uint32, error) { return DropOld(ctx, k.o.Conn, k.o.Retention, k.o.Now()) },
		func() (time.Time, error) { return RawSince(ctx, k.o.Conn) }
	if k.o.Cluster != "" {
		sh := Shards{Conn: k.o.Conn, DSN: k.o.DSN, Cluster: k.o.Cluster}
		dropOld = func() ([]uint32, error) { return sh.DropOld(ctx, k.o.Retention, k.o.Now()) }
		rawSince = func() (time.Time, error) { return sh.RawSince(ctx) }
	}
	dropped, err := dropOld()
	k.dropped.Add(float64(len(dropped)))
	if len(dropped) > 0 {
		k.o.Logger.Info("raw events past the retention dropped; rollups keep their counts", "months", dropped, "retention", k.o.Retention.String())
	}
	since, serr := rawSince()
	if err == nil {
		err = serr
	}
	merged, merr := CompactViews(ctx, k.o.Conn)
	k.merged.Add(float64(len(merged)))
	if merr != nil {
		k.o.Logger.Warn("cannot merge the views rollups; trying again later", "err", merr)
	}
	if err != nil {
		k.failures.Inc()
		k.o.Logger.Warn("cannot apply the retention; trying again later", "err", err)
		return
	}
	if since.IsZero() {
		k.since.Set(0)
	} else {
		k.since.Set(float64(since.Unix()))
	}
}
