package cluster

import (
	"context"
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/aggregator/counters"
	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

// BenchmarkWrite inserts 50,000-event batches (the writer's default batch
// size) the way the collector does: into the cluster's Distributed table
// with synchronous distributed inserts, and into one server, in the same
// run. go test -bench Write -benchtime 20x ./test/cluster
func BenchmarkWrite(b *testing.B) {
	const batch = 50_000
	evs := events(batch, 5_000, 5)
	run := func(b *testing.B, sink collector.ClickHouseSink) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := sink.Write(context.Background(), collector.Batch{ID: uint64(i + 1), Events: evs}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("cluster", func(b *testing.B) {
		run(b, collector.ClickHouseSink{Conn: open(b, newDatabase(b), "ch1", "ch3")})
	})
	b.Run("one-server", func(b *testing.B) {
		_, conn := chtest.New(b)
		run(b, collector.ClickHouseSink{Conn: conn})
	})
}

// BenchmarkRead answers a credential's public counters and a 30-day daily
// series with unique viewers over 500,000 events, through the cluster's
// Distributed tables and on one server, in the same run.
// go test -bench Read ./test/cluster
func BenchmarkRead(b *testing.B) {
	needCluster(b)
	ctx := context.Background()
	evs := events(500_000, 20_000, 6)
	seed := func(b *testing.B, conn driver.Conn) {
		for i := 0; i < len(evs); i += 50_000 {
			if err := (collector.ClickHouseSink{Conn: conn}).Write(ctx, collector.Batch{ID: uint64(i + 1), Events: evs[i : i+50_000]}); err != nil {
				b.Fatal(err)
			}
		}
	}
	series, err := query.DecodeQuery([]byte(`{"metrics": ["views", "unique_viewers"], "dimensions": ["time:day"], "date_range": "30d"}`))
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, conn driver.Conn) {
		b.Run("counters", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := (counters.Store{Conn: conn}).CredentialStats(ctx, fmt.Sprintf("cred-%d", i%20_000)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("series-30d", func(b *testing.B) {
			e := query.NewEngine(conn, nil)
			for b.Loop() {
				if _, err := e.Run(ctx, series); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("cluster", func(b *testing.B) {
		db := newDatabase(b)
		seed(b, open(b, db, "ch1"))
		syncReplicas(b, db)
		run(b, open(b, db, "ch1", "ch3"))
	})
	b.Run("one-server", func(b *testing.B) {
		_, conn := chtest.New(b)
		seed(b, conn)
		run(b, conn)
	})
}
