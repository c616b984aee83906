package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

// The stats API's connection refuses writes and carries the query time
// limit, whatever SQL reaches it.
func TestStatsConnectionIsReadOnlyAndTimeLimited(t *testing.T) {
	dsn, _ := chtest.New(t)
	s, err := New(context.Background(), Options{ClickHouse: dsn, QueryTimeout: 7 * time.Second, Collector: collector.Options{DataDir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	ctx := context.Background()
	for _, sql := range []string{
		"INSERT INTO schema_migrations (version, dirty, applied_at, seq) SELECT 99, 0, now(), 1",
		"CREATE TABLE probe (x UInt8) ENGINE = Memory",
		"DROP TABLE events",
		"ALTER TABLE events DELETE WHERE 1",
		"TRUNCATE TABLE group_daily",
	} {
		if err := s.read.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Errorf("%s: %v, want refused for readonly", sql, err)
		}
	}
	if b, err := s.read.PrepareBatch(ctx, "INSERT INTO api_keys (id)"); err == nil {
		if b.Append("x") == nil && b.Send() == nil {
			t.Error("a batch insert was allowed")
		}
	}
	var readonly, limit string
	if err := s.read.QueryRow(ctx, "SELECT (SELECT value FROM system.settings WHERE name = 'readonly'), (SELECT value FROM system.settings WHERE name = 'max_execution_time')").Scan(&readonly, &limit); err != nil {
		t.Fatal(err)
	}
	if readonly == "0" || limit != "7" {
		t.Errorf("readonly %s, max_execution_time %s; want read-only and 7", readonly, limit)
	}
	var n uint64
	if err := s.write.QueryRow(ctx, "SELECT count() FROM events").Scan(&n); err != nil {
		t.Errorf("events table gone: %v", err)
	}
}
