package counters

import (
	"context"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/aggregator/internal/rolluptest"
)

// BenchmarkCredentialStats measures the public counter query over 1M and
// 10M events (CREDSTATS_BENCH_EVENTS=1000000,10000000 by default):
//
//	go test ./aggregator/counters -run '^$' -bench . -benchtime 50x
func BenchmarkCredentialStats(b *testing.B) {
	rolluptest.Bulk(b, func(b *testing.B, conn driver.Conn, cred func(int) string) {
		s := Store{Conn: conn}
		for i := 0; b.Loop(); i++ {
			if _, err := s.CredentialStats(context.Background(), cred(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
