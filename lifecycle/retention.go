// Package lifecycle looks after the data credstats keeps over time: it
// drops raw events past the retention period, erases every trace of one
// credential on request, and imports history from other platforms. It
// works on ClickHouse 18.16 and on current servers: whole partitions are
// dropped, rows are deleted by mutations that it waits for and checks, and
// rollups are rebuilt a month at a time with REPLACE PARTITION.
package lifecycle

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/schema"
)

// Retention is how many whole months of raw events are kept; 0 keeps them
// forever.
type Retention int

// ParseRetention reads a retention period: "25mo", "2y" (24 months), or
// "" or "forever" to keep everything. Raw events are dropped a month at a
// time, so the unit is the month.
func ParseRetention(s string) (Retention, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" || s == "forever" || s == "0" {
		return 0, nil
	}
	num, months := s, 0
	switch {
	case strings.HasSuffix(s, "mo"):
		num, months = strings.TrimSuffix(s, "mo"), 1
	case strings.HasSuffix(s, "y"):
		num, months = strings.TrimSuffix(s, "y"), 12
	default:
		return 0, fmt.Errorf("%q: give months (25mo), years (2y) or forever", s)
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 1200 {
		return 0, fmt.Errorf("%q: the number must be 1 to 1200", s)
	}
	return Retention(n * months), nil
}

func (r Retention) String() string {
	if r == 0 {
		return "forever"
	}
	return strconv.Itoa(int(r)) + "mo"
}

// Cutoff is the first month whose raw events are kept at now: a month is
// dropped once it ended more than r months ago, so at least r whole months
// are always there. The zero time for a retention of forever.
func (r Retention) Cutoff(now time.Time) time.Time {
	if r == 0 {
		return time.Time{}
	}
	now = now.UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return thisMonth.AddDate(0, -int(r), 0)
}

// yyyymm is a month as toYYYYMM writes it, which is how the events table
// names its partitions.
func yyyymm(t time.Time) uint32 { return uint32(t.Year()*100 + int(t.Month())) }

// Partitions lists the months (YYYYMM) of the events table's partitions
// that hold data, oldest first.
func Partitions(ctx context.Context, conn driver.Conn) ([]uint32, error) {
	return months(ctx, conn, "events", 1)
}

// months lists the months (YYYYMM) of a table's partitions held in at
// least minParts active parts, oldest first. The tables are partitioned
// by toYYYYMM: any other partition is not one this code made, and is left
// out.
func months(ctx context.Context, conn driver.Conn, table string, minParts int) ([]uint32, error) {
	rows, err := conn.Query(ctx, `SELECT partition FROM system.parts
		WHERE database = currentDatabase() AND table = ? AND active
		GROUP BY partition HAVING count() >= ? ORDER BY partition`, table, minParts)
	if err != nil {
		return nil, fmt.Errorf("cannot list the partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var ps []uint32
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("cannot list the partitions of %s: %w", table, err)
		}
		if m, err := strconv.ParseUint(p, 10, 32); err == nil {
			ps = append(ps, uint32(m))
		}
	}
	return ps, rows.Err()
}

// DropOld drops the events table's monthly partitions that ended before
// the retention's cutoff at now, and returns the months dropped. The
// rollups keep their counts. A retention of forever drops nothing.
func DropOld(ctx context.Context, conn driver.Conn, r Retention, now time.Time) ([]uint32, error) {
	return dropOld(ctx, conn, "events", r, now)
}

func dropOld(ctx context.Context, conn driver.Conn, table string, r Retention, now time.Time) ([]uint32, error) {
	if r == 0 {
		return nil, nil
	}
	cutoff := yyyymm(r.Cutoff(now))
	ps, err := months(ctx, conn, table, 1)
	if err != nil {
		return nil, err
	}
	var dropped []uint32
	for _, p := range ps {
		if p >= cutoff {
			break
		}
		// p is a number read back from the server, never a client's string.
		if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP PARTITION %d", table, p)); err != nil {
			return dropped, fmt.Errorf("cannot drop the events of %d: %w", p, err)
		}
		dropped = append(dropped, p)
	}
	return dropped, nil
}

// RawSince is the start of the oldest month whose raw events are still
// there; the zero time when the events table is empty.
func RawSince(ctx context.Context, conn driver.Conn) (time.Time, error) {
	ps, err := Partitions(ctx, conn)
	if err != nil || len(ps) == 0 {
		return time.Time{}, err
	}
	return monthStart(ps[0]), nil
}

func monthStart(m uint32) time.Time {
	return time.Date(int(m/100), time.Month(m%100), 1, 0, 0, 0, 0, time.UTC)
}

// Shards is a cluster's database (credstats migrate --cluster), whose raw
// events and rollups live in each shard's _local tables behind the
// Distributed tables of the catalog's names: the retention and the
// erasure work there through it.
type Shards struct {
	Conn    driver.Conn // any server of the cluster
	DSN     string      // reaches the others: the user and database to use there
	Cluster string      // the cluster's name in the servers' remote_servers
}

// DropOld drops the months past the retention on one replica of every
// shard (replication takes it to the others), and returns the months
// dropped on any shard, oldest first.
func (s Shards) DropOld(ctx context.Context, r Retention, now time.Time) ([]uint32, error) {
	if r == 0 {
		return nil, nil
	}
	dropped := map[uint32]bool{}
	err := schema.OnEachShard(ctx, s.Conn, s.DSN, s.Cluster, func(ctx context.Context, c driver.Conn) error {
		ms, err := dropOld(ctx, c, "events"+localSuffix, r, now)
		for _, m := range ms {
			dropped[m] = true
		}
		return err
	})
	return slices.Sorted(maps.Keys(dropped)), err
}

// RawSince is the start of the oldest month whose raw events any shard
// still holds; the zero time when no shard holds any.
func (s Shards) RawSince(ctx context.Context) (time.Time, error) {
	var oldest uint32
	err := schema.OnEachShard(ctx, s.Conn, s.DSN, s.Cluster, func(ctx context.Context, c driver.Conn) error {
		ms, err := months(ctx, c, "events"+localSuffix, 1)
		if err == nil && len(ms) > 0 && (oldest == 0 || ms[0] < oldest) {
			oldest = ms[0]
		}
		return err
	})
	if err != nil || oldest == 0 {
		return time.Time{}, err
	}
	return monthStart(oldest), nil
}
