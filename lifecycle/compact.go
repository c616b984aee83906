package lifecycle

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/catalog"
)

// CompactViews merges into one part each month of the views-only rollups
// (views_daily, group_views_daily) held in more than one, so that every
// day there is one row: a daily series of views and unique viewers then
// finalizes each day's unique-viewer state as stored instead of merging
// the day's states (aggregator/query/rowwise.go). ClickHouse's own merges
// get there for most past days, but they leave any day whose events came
// in inserts that ended in different parts; a partition of these tables
// holds at most a row a day (and group), so merging it is cheap. It
// returns the partitions merged, as table:YYYYMM. On a cluster the names
// are Distributed tables, which have no parts, and the shards' _local
// tables are left alone: every day has a row on each shard anyway.
func CompactViews(ctx context.Context, conn driver.Conn) ([]string, error) {
	var done []string
	for _, r := range catalog.Rollups {
		if !r.ViewsOnly {
			continue
		}
		ms, err := months(ctx, conn, r.Name, 2)
		if err != nil {
			return done, err
		}
		for _, m := range ms {
			if err := conn.Exec(ctx, fmt.Sprintf("OPTIMIZE TABLE %s PARTITION %d FINAL", r.Name, m)); err != nil {
				return done, fmt.Errorf("cannot merge %d of %s: %w", m, r.Name, err)
			}
			done = append(done, fmt.Sprintf("%s:%d", r.Name, m))
		}
	}
	return done, nil
}
