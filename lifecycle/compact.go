package lifecycle

import (
	"context"
	"fmt"
	"strconv"

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
	var tables []string
	for _, r := range catalog.Rollups {
		if r.ViewsOnly {
			tables = append(tables, r.Name)
		}
	}
	rows, err := conn.Query(ctx, `SELECT table, partition FROM system.parts
		WHERE database = currentDatabase() AND active AND has(?, table)
		GROUP BY table, partition HAVING count() > 1 ORDER BY table, partition`, tables)
	if err != nil {
		return nil, fmt.Errorf("cannot list the parts of the views rollups: %w", err)
	}
	type part struct{ table, partition string }
	var todo []part
	for rows.Next() {
		var p part
		if err := rows.Scan(&p.table, &p.partition); err != nil {
			rows.Close()
			return nil, err
		}
		todo = append(todo, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var done []string
	for _, p := range todo {
		// The partition is toYYYYMM(day), read back from the server;
		// anything else is not ours to merge.
		month, err := strconv.ParseUint(p.partition, 10, 32)
		if err != nil {
			continue
		}
		if err := conn.Exec(ctx, fmt.Sprintf("OPTIMIZE TABLE %s PARTITION %d FINAL", p.table, month)); err != nil {
			return done, fmt.Errorf("cannot merge %s of %s: %w", p.partition, p.table, err)
		}
		done = append(done, fmt.Sprintf("%s:%d", p.table, month))
	}
	return done, nil
}
