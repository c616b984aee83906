package query

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/aggregator/internal/rolluptest"
)

// BenchmarkQueries measures the query engine over 1M and 10M events
// (CREDSTATS_BENCH_EVENTS=1000000,10000000 by default). Seeding happens
// once per size, on the server:
//
//	go test ./aggregator/query -run '^$' -bench Queries -benchtime 50x
func BenchmarkQueries(b *testing.B) {
	rolluptest.Bulk(b, benchQueries)
}

func benchQueries(b *testing.B, conn driver.Conn, cred func(int) string) {
	ctx := context.Background()
	engine := NewEngine(conn, func() time.Time { return rolluptest.Now })
	run := func(name string, f func(i int) error) {
		b.Run(name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if err := f(i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("credential_query_30d", func(i int) error {
		_, err := engine.Run(ctx, Query{Metrics: metrics, DateRange: DateRange{Preset: "30d"},
			Filters: []Filter{{Op: "is", Dimension: "credential", Values: []string{cred(i)}}}})
		return err
	})
	series := func(tz string, filters ...Filter) func(int) error {
		return func(int) error {
			res, err := engine.Run(ctx, Query{Metrics: []string{"views", "unique_viewers", "shares", "share_rate"}, Dimensions: []string{"time:day"},
				DateRange: DateRange{Preset: "30d"}, Timezone: tz, Filters: filters})
			if err == nil && len(res.Results) != 30 {
				err = fmt.Errorf("%d days", len(res.Results))
			}
			return err
		}
	}
	run("daily_series_30d_utc", series("UTC"))
	run("daily_series_30d_berlin", series("Europe/Berlin"))
	run("daily_series_30d_group", series("UTC", Filter{Op: "is", Dimension: "group", Values: []string{"prog-7"}}))
	run("daily_series_30d_by_country", func(int) error {
		_, err := engine.Run(ctx, Query{Metrics: []string{"views"}, Dimensions: []string{"time:day", "country"}, DateRange: DateRange{Preset: "30d"}})
		return err
	})
	run("top_credentials_30d", func(int) error {
		_, err := engine.Run(ctx, Query{Metrics: []string{"views", "shares"}, Dimensions: []string{"credential"}, DateRange: DateRange{Preset: "30d"}, Limit: 10})
		return err
	})
}
