package lifecycle

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/schema"
)

// localSuffix names a cluster's table on each server behind a Distributed
// table of the same name without it.
const localSuffix = schema.LocalSuffix

// clusterInsert makes an insert through a Distributed table return once
// every shard it touched has stored its rows, as on one server, and keeps
// replicated tables from dropping a block equal to a recent one (two
// imports' rollup rows may come out equal), as the collector's
// connections do on a cluster.
var clusterInsert = clickhouse.Settings{"insert_distributed_sync": 1, "insert_deduplicate": 0}

// isDistributed reports whether the table is a Distributed one: the
// database is a cluster's (credstats migrate --cluster), whose rows live in
// the shards' _local tables.
func isDistributed(ctx context.Context, conn driver.Conn, table string) (bool, error) {
	n, err := count(ctx, conn, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ? AND engine = 'Distributed'", table)
	if err != nil {
		return false, fmt.Errorf("cannot tell whether the database is a cluster's: %w", err)
	}
	return n > 0, nil
}
