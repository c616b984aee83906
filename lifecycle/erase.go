package lifecycle

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/catalog"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/schema"
)

// ErrCluster is Erase's answer on a cluster's database, where it erases
// nothing: the rows live in the shards' _local tables, which Shards.Erase
// addresses.
var ErrCluster = errors.New("the database is a cluster's (its rows live in the shards' _local tables): erase with --cluster NAME; nothing was erased")

// EraseReport says what an erasure removed.
type EraseReport struct {
	Credential string `json:"credential"`
	// Removed counts the rows deleted from each table that names the
	// credential (0 for a table that held none).
	Removed map[string]uint64 `json:"removed"`
	// Recounted lists, for each site-wide and per-group rollup, the months
	// (YYYYMM) it was counted again from the remaining raw events, without
	// the credential.
	Recounted map[string][]uint32 `json:"recounted"`
	// NotRecounted lists the months whose raw events the retention had
	// dropped already: the site-wide and per-group counts of those months
	// still include the credential's events, as numbers that no longer name
	// it.
	NotRecounted []uint32 `json:"not_recounted,omitempty"`
}

// Total is the number of rows the erasure deleted.
func (r EraseReport) Total() (n uint64) {
	for _, v := range r.Removed {
		n += v
	}
	return n
}

// credentialTables lists the database's tables with a credential column:
// the raw events, the badge counters, the per-credential rollups, and any
// other table that keeps rows by credential (the hosts a credential was
// seen on, link-preview fetches), whether the catalog describes it or not.
func credentialTables(ctx context.Context, conn driver.Conn, p place) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT table FROM system.columns
		WHERE database = currentDatabase() AND name = 'credential' AND table NOT LIKE 'lifecycle\\_%'
		AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree')
		ORDER BY table`)
	if err != nil {
		return nil, fmt.Errorf("cannot list the tables with a credential column: %w", err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("cannot list the tables with a credential column: %w", err)
		}
		if base, ok := strings.CutSuffix(t, p.suffix); ok {
			tables = append(tables, base)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list the tables with a credential column: %w", err)
	}
	for _, t := range catalog.Tables() {
		if _, ok := t.Column("credential"); ok && !slices.Contains(tables, t.Name) {
			return nil, fmt.Errorf("the table %s is missing: run `credstats migrate`", t.Name)
		}
	}
	return tables, nil
}

// mixedRollups are the rollups that count many credentials in one row:
// site-wide and per group. Their rows cannot be told apart by credential,
// so a month of theirs is counted again instead.
func mixedRollups() []catalog.Rollup {
	return slices.DeleteFunc(slices.Clone(catalog.Rollups), func(r catalog.Rollup) bool { return r.Has(catalog.Credential.Name) })
}

// namers are the other tables whose rows may name a credential, where
// the schema has them: dashboard links shared for it, and its entry in
// the credential registry.
var namers = []struct{ table, where string }{
	{"share_links", "scope = 'credential' AND value = ?"},
	{"credentials", "id = ?"},
}

// Erase removes every row that names the credential: its raw events, its
// badge counters, its rows in the per-credential rollups, the dashboard
// links shared for it and its registry entry; and it counts the months of the site-wide and
// per-group rollups that held its events again from the other raw events.
// It waits for each mutation and checks that no row is left. Erasing a
// credential again finds nothing and removes nothing.
//
// Events of the credential that arrive while it runs are new events, and
// are kept. Counting a month again takes its partition's place at once
// (REPLACE PARTITION); events of that month stored meanwhile are missing
// from the site-wide and per-group rollups (never from the raw events or
// the per-credential tables), which matters only for the current month.
func Erase(ctx context.Context, conn driver.Conn, credential string) (EraseReport, error) {
	rep := newReport(credential)
	if !event.ValidID(credential) {
		return rep, errBadID
	}
	if cluster, err := isDistributed(ctx, conn, "events"); err != nil || cluster {
		return rep, cmp.Or(err, ErrCluster)
	}
	err := erase(ctx, conn, place{}, &rep)
	return rep, err
}

// Erase is Erase on a cluster's database: on one replica of each shard, it
// erases from the shard's _local tables and counts the shard's rollups
// again from the shard's raw events (the credential's rows are all on one
// shard, but the tables without a credential column, such as the dashboard
// links, are sharded otherwise). Replication takes each deletion and
// recount to the shard's other replica. The report adds up the shards'.
func (s Shards) Erase(ctx context.Context, credential string) (EraseReport, error) {
	rep := newReport(credential)
	if !event.ValidID(credential) {
		return rep, errBadID
	}
	err := schema.OnEachShard(ctx, s.Conn, s.DSN, s.Cluster, func(ctx context.Context, c driver.Conn) error {
		shard := newReport(credential)
		err := erase(ctx, c, place{suffix: localSuffix}, &shard)
		rep.add(shard)
		return err
	})
	return rep, err
}

func newReport(credential string) EraseReport {
	return EraseReport{Credential: credential, Removed: map[string]uint64{}, Recounted: map[string][]uint32{}}
}

// add adds a shard's report to r.
func (r *EraseReport) add(o EraseReport) {
	for t, n := range o.Removed {
		r.Removed[t] += n
	}
	for t, ms := range o.Recounted {
		r.Recounted[t] = sortedUnion(r.Recounted[t], ms)
	}
	r.NotRecounted = sortedUnion(r.NotRecounted, o.NotRecounted)
}

func sortedUnion(a, b []uint32) []uint32 {
	return slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a), b...))))
}

var errBadID = fmt.Errorf("credential: must be 1-%d characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'", event.MaxIDLen)

// place is where an erasure runs: one server, or one replica of a
// cluster's shard, whose tables are the _local ones behind the names the
// catalog uses.
type place struct{ suffix string }

func (p place) table(name string) string { return name + p.suffix }

// like creates tmp, empty, with the columns, engine and partitions of the
// table named name here, but not replicated, so that it can give a month
// back to the table (REPLACE PARTITION) without joining its replicas.
func (p place) like(ctx context.Context, conn driver.Conn, tmp, name string) error {
	local := p.table(name)
	if p.suffix == "" {
		return conn.Exec(ctx, "CREATE TABLE "+tmp+" AS "+local)
	}
	var engine string
	if err := conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = ?", local).Scan(&engine); err != nil {
		return fmt.Errorf("cannot read the engine of %s: %w", local, err)
	}
	return conn.Exec(ctx, "CREATE TABLE "+tmp+" AS "+local+" ENGINE = "+schema.Unreplicated(engine))
}

// erase is Erase in one place, adding to rep.
func erase(ctx context.Context, conn driver.Conn, p place, rep *EraseReport) error {
	credential := rep.Credential
	tables, err := credentialTables(ctx, conn, p)
	if err != nil {
		return err
	}
	for _, t := range tables {
		n, err := count(ctx, conn, "SELECT count() FROM "+p.table(t)+" WHERE credential = ?", credential)
		if err != nil {
			return err
		}
		rep.Removed[t] = n
	}
	var named []string // the namers this schema has
	for _, t := range namers {
		exists, err := count(ctx, conn, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ?", p.table(t.table))
		if err != nil {
			return err
		}
		if exists == 0 {
			continue
		}
		named = append(named, t.table)
		if rep.Removed[t.table], err = count(ctx, conn, "SELECT count() FROM "+p.table(t.table)+" WHERE "+t.where, credential); err != nil {
			return err
		}
	}

	// Recount before deleting: if the erasure stops half-way, running it
	// again still finds the days from the raw events.
	raw := map[uint32]bool{}
	daysBy := map[string]map[uint32][]string{} // by rollup, the days of each month
	var all []string
	for _, r := range mixedRollups() {
		expr := r.Grain.Column().Expr
		days, err := daysOf(ctx, conn, "SELECT DISTINCT toYYYYMM("+expr+"), toString(toDate("+expr+")) FROM "+p.table("events")+" WHERE credential = ? AND bot_reason = ''", credential)
		if err != nil {
			return err
		}
		daysBy[r.Name] = days
		for _, ds := range days {
			all = append(all, ds...)
		}
	}
	if len(all) > 0 {
		// The other events of those days, copied once: each rollup is
		// recounted from this copy rather than from all the raw events.
		others, drop, err := otherEvents(ctx, conn, p, credential, all)
		if err != nil {
			return err
		}
		defer drop()
		for _, r := range mixedRollups() {
			days := daysBy[r.Name]
			for _, m := range slices.Sorted(maps.Keys(days)) {
				raw[m] = true
				if err := recount(ctx, conn, p, r.Table(), others, m, days[m]); err != nil {
					return err
				}
				rep.Recounted[r.Name] = append(rep.Recounted[r.Name], m)
			}
		}
	}
	counted, err := daysOf(ctx, conn, "SELECT DISTINCT toYYYYMM(day), '' FROM "+p.table("credential_daily")+" WHERE credential = ?", credential)
	if err != nil {
		return err
	}
	for _, m := range slices.Sorted(maps.Keys(counted)) {
		if !raw[m] {
			rep.NotRecounted = append(rep.NotRecounted, m)
		}
	}

	for _, t := range tables {
		if rep.Removed[t] == 0 {
			continue
		}
		local := p.table(t)
		if err := mutate(ctx, conn, local, "ALTER TABLE "+local+" DELETE WHERE credential = ?", "SELECT count() FROM "+local+" WHERE credential = ?", credential); err != nil {
			return err
		}
	}
	for _, t := range namers {
		if !slices.Contains(named, t.table) || rep.Removed[t.table] == 0 {
			continue
		}
		local := p.table(t.table)
		if err := mutate(ctx, conn, local, "ALTER TABLE "+local+" DELETE WHERE "+t.where, "SELECT count() FROM "+local+" WHERE "+t.where, credential); err != nil {
			return err
		}
	}
	return nil
}

// mutate runs an ALTER ... DELETE, waits until the server has applied it
// (mutations run in the background, and 18.16 has no setting to wait for
// them), and checks with check that no row is left.
func mutate(ctx context.Context, conn driver.Conn, table, alter, check string, args ...any) error {
	// Mutation ids grow: "mutation_N.txt" on one server, a zero-padded
	// number on a replicated table; longer is later, then by the text.
	const mutations = "FROM system.mutations WHERE database = currentDatabase() AND table = ?"
	rows, err := conn.Query(ctx, "SELECT mutation_id "+mutations+" ORDER BY length(mutation_id) DESC, mutation_id DESC LIMIT 1", table)
	if err != nil {
		return fmt.Errorf("cannot read the mutations of %s: %w", table, err)
	}
	var last string
	for rows.Next() {
		if err := rows.Scan(&last); err != nil {
			rows.Close()
			return fmt.Errorf("cannot read the mutations of %s: %w", table, err)
		}
	}
	rows.Close()
	if err := conn.Exec(ctx, alter, args...); err != nil {
		return fmt.Errorf("cannot delete from %s: %w", table, err)
	}
	// A replicated table's mutation shows in system.mutations once this
	// replica has read it back from ZooKeeper, a moment after the ALTER
	// returns; until then there is nothing to wait for.
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		n, err := count(ctx, conn, "SELECT count() "+mutations+" AND (length(mutation_id) > ? OR length(mutation_id) = ? AND mutation_id > ?)",
			table, len(last), len(last), last)
		if err != nil {
			return err
		}
		if n > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the deletion from %s has not shown in system.mutations: %w", table, ctx.Err())
		case <-time.After(wait):
		}
	}
	if err := WaitMutations(ctx, conn, table); err != nil {
		return err
	}
	left, err := count(ctx, conn, check, args...)
	if err != nil {
		return err
	}
	if left > 0 {
		return fmt.Errorf("%d rows are still in %s after the deletion", left, table)
	}
	return nil
}

// WaitMutations waits until the table's mutations are done, or ctx ends.
func WaitMutations(ctx context.Context, conn driver.Conn, table string) error {
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		n, err := count(ctx, conn, "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND table = ? AND is_done = 0", table)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the deletion from %s has not finished: %w", table, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// otherEvents copies the raw events of the days (YYYY-MM-DD, UTC or the
// server's) but the credential's to a table of their own, and returns its
// name and what drops it.
func otherEvents(ctx context.Context, conn driver.Conn, p place, credential string, days []string) (string, func(), error) {
	tmp := tempName("events")
	if err := p.like(ctx, conn, tmp, "events"); err != nil {
		return "", nil, fmt.Errorf("cannot copy the events to recount: %w", err)
	}
	drop := func() { conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+tmp) }
	copyDays := "INSERT INTO " + tmp + " SELECT * FROM " + p.table("events") + " WHERE time >= toDateTime(toDate(?)) - 86400 AND time < toDateTime(toDate(?)) + 172800" +
		" AND (has(arrayMap(d -> toDate(d), ?), toDate(time, 'UTC')) OR has(arrayMap(d -> toDate(d), ?), toDate(time))) AND credential != ?"
	if err := conn.Exec(ctx, copyDays, slices.Min(days), slices.Max(days), days, days, credential); err != nil {
		drop()
		return "", nil, fmt.Errorf("cannot copy the events to recount: %w", err)
	}
	return tmp, drop, nil
}

func tempName(of string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return "lifecycle_" + of + "_" + hex.EncodeToString(b)
}

// recount counts some days (YYYY-MM-DD, by the table's time column) of
// one month (YYYYMM) of a table fed from the events (a rollup, or the
// badge counters) again from the raw events in the table from (events, or
// a copy of some), and puts the month in the old one's place in one step;
// the month's other days keep their rows.
func recount(ctx context.Context, conn driver.Conn, p place, t catalog.Table, from string, month uint32, days []string) error {
	keys := t.Keys()
	timeCol := keys[0] // every table fed from events starts with its time
	tmp := tempName(t.Name)
	if err := p.like(ctx, conn, tmp, t.Name); err != nil {
		return fmt.Errorf("cannot recount %s: %w", t.Name, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+tmp)
	cols := names(t.Columns)
	// The days are compared as Dates, and the raw events are also bounded
	// by time (a day of slack for the server's time zone), which skips the
	// parts of other days.
	const isDay = "has(arrayMap(d -> toDate(d), ?), toDate(%s))"
	keep := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE toYYYYMM(%s) = %d AND NOT "+isDay,
		tmp, cols, cols, p.table(t.Name), timeCol.Name, month, timeCol.Name)
	// A table that counts only some events (the views-only rollups) is
	// counted again from those alone, as its view does.
	only := ""
	if t.Filter != "" {
		only = " AND (" + t.Filter + ")"
	}
	recount := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s WHERE time >= toDateTime(toDate(?)) - 86400 AND time < toDateTime(toDate(?)) + 172800"+
		" AND bot_reason = ''%s AND toYYYYMM(%s) = %d AND "+isDay+" GROUP BY %s",
		tmp, cols, selects(t.Columns), from, only, timeCol.Expr, month, timeCol.Expr, names(keys))
	if err := conn.Exec(ctx, keep, days); err != nil {
		return fmt.Errorf("cannot recount %d of %s: %w", month, t.Name, err)
	}
	if err := conn.Exec(ctx, recount, slices.Min(days), slices.Max(days), days); err != nil {
		return fmt.Errorf("cannot recount %d of %s: %w", month, t.Name, err)
	}
	if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s REPLACE PARTITION %d FROM %s", p.table(t.Name), month, tmp)); err != nil {
		return fmt.Errorf("cannot replace %d of %s: %w", month, t.Name, err)
	}
	return nil
}

func names(cs []catalog.Column) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return strings.Join(out, ", ")
}

func selects(cs []catalog.Column) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
		if c.Expr != "" {
			out[i] = c.Expr + " AS " + c.Name
		}
	}
	return strings.Join(out, ", ")
}

func count(ctx context.Context, conn driver.Conn, sql string, args ...any) (uint64, error) {
	var n uint64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("cannot count: %w", err)
	}
	return n, nil
}

// daysOf runs a query of months (YYYYMM) and days (YYYY-MM-DD) and
// gathers the days by month.
func daysOf(ctx context.Context, conn driver.Conn, sql string, args ...any) (map[uint32][]string, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot find the days to recount: %w", err)
	}
	defer rows.Close()
	days := map[uint32][]string{}
	for rows.Next() {
		var m uint32
		var d string
		if err := rows.Scan(&m, &d); err != nil {
			return nil, fmt.Errorf("cannot find the days to recount: %w", err)
		}
		days[m] = append(days[m], d)
	}
	return days, rows.Err()
}
