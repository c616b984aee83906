package schema

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/store"
)

// Cluster renders migrations for a ClickHouse cluster (the --cluster mode).
// Every statement a migration may hold is rewritten by its kind, so a
// migration is written once, for one server, and runs on both:
//
//   - CREATE TABLE [IF NOT EXISTS] t (...) ENGINE = XMergeTree[(args)] ...
//     becomes t_local on every server (ReplicatedXMergeTree, its replicas
//     under /clickhouse/tables/{shard}/DB/t_local, when the cluster's shards
//     have replicas) and t, a Distributed table over t_local sharded by
//     sipHash64(credential) when t has a credential column, by
//     sipHash64(id) when it has an id, by rand() otherwise, with t's
//     columns (MATERIALIZED ones as ALIAS: the shards compute them). Only
//     MergeTree-family engines are allowed.
//   - CREATE MATERIALIZED VIEW [IF NOT EXISTS] v TO t AS SELECT ... FROM s
//     becomes the view on every server, reading s_local and writing
//     t_local: each server aggregates what it stores, and queries merge the
//     shards' partial rollups (sum, uniqMerge) through the Distributed
//     tables; t may be created by a later migration, as on one server. A
//     view without TO is refused.
//   - INSERT INTO t (...) SELECT ... (a backfill) runs once, as written,
//     through the Distributed tables.
//   - DROP TABLE [IF EXISTS] x drops x, and x_local for a table, on every
//     server.
//   - RENAME TABLE a TO b, one table at a time, renames a_local to b_local
//     on every server and puts a Distributed table b in place of a:
//     queries that meet neither in between fail and are retried. A
//     replicated table keeps its replicas' ZooKeeper path, named after a.
//   - ALTER TABLE t ... (DELETE WHERE, UPDATE, DROP PARTITION, ADD, MODIFY
//     or DROP COLUMN) runs on t_local on every server, or, when the shards
//     are replicated, on one replica of each shard (EachShard), whose
//     replication brings it to the others; one that changes columns then
//     re-creates the Distributed table t, which holds no data, with them,
//     since ClickHouse 18.16 refuses ALTER ... ON CLUSTER on it. Inserts
//     that meet t in between fail and are retried.
//
// Anything else (OPTIMIZE, CREATE VIEW, a view without TO, other
// engines) is an error that names the statement: the cluster test renders
// every shipped migration, so a new one that needs another form says so
// before it ships.
type Cluster struct {
	Name     string // the cluster in the servers' remote_servers
	Database string
	// Replicated gives the local tables Replicated* engines: the shards
	// have replicas, kept in step through ZooKeeper.
	Replicated bool
	// Replicas is the most replicas a shard has.
	Replicas int
}

// LocalSuffix names the table on each server behind a Distributed table.
const LocalSuffix = "_local"

// EachShard starts a rendered statement that the runner sends to one
// replica of each shard rather than ON CLUSTER.
const EachShard = "/* on one replica of each shard */ "

var (
	createTableRe  = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s*\((.*)\)\s*ENGINE\s*=\s*(\w+)\s*(\(([^)]*)\))?(.*)$`)
	createViewRe   = regexp.MustCompile(`(?is)^CREATE\s+MATERIALIZED\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s+TO\s+(\w+)\s+AS\s+(SELECT\b.*)$`)
	insertRe       = regexp.MustCompile(`(?is)^INSERT\s+INTO\s+\w+\s*\(`)
	dropTableRe    = regexp.MustCompile(`(?is)^DROP\s+TABLE\s+(IF\s+EXISTS\s+)?(\w+)$`)
	renameTableRe  = regexp.MustCompile(`(?is)^RENAME\s+TABLE\s+(\w+)\s+TO\s+(\w+)$`)
	alterTableRe   = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+(\w+)\s+(.*)$`)
	columnAlterRe  = regexp.MustCompile(`(?is)^(ADD|MODIFY|DROP|RENAME|COMMENT|CLEAR)\s+COLUMN\s+(IF\s+(?:NOT\s+)?EXISTS\s+)?(\w+)(.*)$`)
	afterRe        = regexp.MustCompile(`(?i)\s+AFTER\s+(\w+)$`)
	materializedRe = regexp.MustCompile(`(?i)\s+MATERIALIZED\s+`)
	fromRe         = regexp.MustCompile(`(?i)\b(FROM|JOIN)\s+(\w+)\b`)
)

// clusterRenderer rewrites one migration's statements after another,
// remembering the tables earlier ones created: their sharding keys and
// columns.
type clusterRenderer struct {
	c      Cluster
	tables map[string]*shardedTable
}

type shardedTable struct {
	key     string
	columns []column
}

// column is one column definition: its name and the rest ("Type",
// "Type MATERIALIZED expr").
type column struct{ name, def string }

func newClusterRenderer(c Cluster) *clusterRenderer {
	return &clusterRenderer{c: c, tables: map[string]*shardedTable{}}
}

func (r *clusterRenderer) on() string { return " ON CLUSTER " + r.c.Name }

func (r *clusterRenderer) qualified(name string) string { return r.c.Database + "." + name }

// distributed creates the Distributed table in front of a local one. Its
// MATERIALIZED columns are ALIAS columns: the shards compute them, and
// ClickHouse 18.16 refuses an insert of a Distributed table's own
// MATERIALIZED column on the local shard.
func (r *clusterRenderer) distributed(name string) string {
	t := r.tables[name]
	defs := make([]string, len(t.columns))
	for i, c := range t.columns {
		defs[i] = c.name + " " + materializedRe.ReplaceAllString(c.def, " ALIAS ")
	}
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s (\n    %s\n) ENGINE = Distributed(%s, %s, %s, %s)",
		r.qualified(name), r.on(), strings.Join(defs, ",\n    "),
		r.c.Name, r.c.Database, name+LocalSuffix, t.key)
}

// render rewrites one statement of a migration (see Cluster).
func (r *clusterRenderer) render(stmt string) ([]string, error) {
	s := strings.TrimSpace(stmt)
	if m := createTableRe.FindStringSubmatch(s); m != nil {
		return r.createTable(m[1], m[2], m[3], m[4], m[5] != "", m[6], m[7])
	}
	if m := createViewRe.FindStringSubmatch(s); m != nil {
		// The target may come in a later migration, as on one server.
		name, target, sel := m[2], m[3], m[4]
		return []string{fmt.Sprintf("CREATE MATERIALIZED VIEW %s%s%s TO %s AS %s",
			ifNot(m[1]), r.qualified(name), r.on(), r.qualified(target+LocalSuffix), r.localSources(sel))}, nil
	}
	if insertRe.MatchString(s) {
		return []string{s}, nil
	}
	if m := dropTableRe.FindStringSubmatch(s); m != nil {
		exists := ""
		if m[1] != "" {
			exists = "IF EXISTS "
		}
		out := []string{"DROP TABLE " + exists + r.qualified(m[2]) + r.on()}
		if r.tables[m[2]] != nil {
			out = append(out, "DROP TABLE "+exists+r.qualified(m[2]+LocalSuffix)+r.on())
			delete(r.tables, m[2])
		}
		return out, nil
	}
	if m := renameTableRe.FindStringSubmatch(s); m != nil {
		from, to := m[1], m[2]
		if r.tables[from] == nil || r.tables[to] != nil {
			return nil, fmt.Errorf("RENAME TABLE %s TO %s: cluster mode renames a table a migration created to a name no table has", from, to)
		}
		r.tables[to] = r.tables[from]
		delete(r.tables, from)
		return []string{
			"RENAME TABLE " + r.qualified(from+LocalSuffix) + " TO " + r.qualified(to+LocalSuffix) + r.on(),
			"DROP TABLE IF EXISTS " + r.qualified(from) + r.on(),
			r.distributed(to),
		}, nil
	}
	if m := alterTableRe.FindStringSubmatch(s); m != nil {
		return r.alterTable(m[1], m[2])
	}
	first, _, _ := strings.Cut(s, "\n")
	return nil, fmt.Errorf("a migration may not use this statement in cluster mode: %q (allowed: CREATE TABLE with a MergeTree engine, CREATE MATERIALIZED VIEW ... TO, INSERT INTO ... SELECT, DROP TABLE, RENAME TABLE, ALTER TABLE)", first)
}

func (r *clusterRenderer) createTable(ifNotExists, name, columns, engine string, hasArgs bool, args, rest string) ([]string, error) {
	if !strings.HasSuffix(engine, "MergeTree") {
		return nil, fmt.Errorf("table %s: engine %s cannot be sharded; use one of the MergeTree family", name, engine)
	}
	if strings.HasPrefix(engine, "Replicated") {
		return nil, fmt.Errorf("table %s: write %s without Replicated: cluster mode adds it where the shards have replicas", name, engine)
	}
	t := &shardedTable{key: "rand()"}
	for _, def := range splitTop(columns) {
		n, d, _ := strings.Cut(def, " ")
		t.columns = append(t.columns, column{n, strings.TrimSpace(d)})
	}
	for _, key := range []string{"credential", "id"} {
		if slices.ContainsFunc(t.columns, func(c column) bool { return c.name == key }) {
			t.key = "sipHash64(" + key + ")"
			break
		}
	}
	r.tables[name] = t
	local := name + LocalSuffix
	engineArgs := strings.TrimSpace(args)
	if r.c.Replicated {
		engine = "Replicated" + engine
		path := fmt.Sprintf("'/clickhouse/tables/{shard}/%s/%s', '{replica}'", r.c.Database, local)
		engineArgs = strings.TrimSuffix(path+", "+engineArgs, ", ")
		hasArgs = true
	}
	if hasArgs {
		engine += "(" + engineArgs + ")"
	}
	if rest = strings.TrimSpace(rest); rest != "" {
		rest = "\n" + rest
	}
	return []string{
		fmt.Sprintf("CREATE TABLE %s%s%s (%s) ENGINE = %s%s",
			ifNot(ifNotExists), r.qualified(local), r.on(), columns, engine, rest),
		r.distributed(name),
	}, nil
}

// alterTable runs the ALTER on the local tables; one that changes columns
// re-creates the Distributed table with them.
func (r *clusterRenderer) alterTable(name, ops string) ([]string, error) {
	t := r.tables[name]
	if t == nil {
		return nil, fmt.Errorf("ALTER TABLE %s: no migration created %s as a table", name, name)
	}
	// ClickHouse 18.16 runs an ALTER ... ON CLUSTER of a replicated table
	// on the replicas of a shard at once, now and then twice (an ADD COLUMN
	// then fails on the second) and then stops its DDL queue; on one
	// replica of each shard, replication brings it to the others.
	out := []string{"ALTER TABLE " + r.qualified(name+LocalSuffix) + r.on() + " " + ops}
	if r.c.Replicated {
		out[0] = EachShard + "ALTER TABLE " + r.qualified(name+LocalSuffix) + " " + ops
	}
	changed := false
	for _, op := range splitTop(ops) {
		m := columnAlterRe.FindStringSubmatch(op)
		if m == nil {
			continue
		}
		changed = true
		col, def := m[3], strings.TrimSpace(m[4])
		i := slices.IndexFunc(t.columns, func(c column) bool { return c.name == col })
		switch verb := strings.ToUpper(m[1]); {
		case verb == "ADD" && i < 0:
			after := ""
			if a := afterRe.FindStringSubmatch(def); a != nil {
				def, after = strings.TrimSpace(def[:len(def)-len(a[0])]), a[1]
			}
			at := len(t.columns)
			if j := slices.IndexFunc(t.columns, func(c column) bool { return c.name == after }); j >= 0 {
				at = j + 1
			}
			t.columns = slices.Insert(t.columns, at, column{col, def})
		case verb == "MODIFY" && i >= 0:
			// A new type keeps the column's default expression.
			if old := materializedRe.FindStringIndex(t.columns[i].def); old != nil && !materializedRe.MatchString(def) {
				def += t.columns[i].def[old[0]:]
			}
			t.columns[i].def = def
		case verb == "DROP" && i >= 0:
			t.columns = slices.Delete(t.columns, i, i+1)
		case verb == "ADD" || verb == "MODIFY" || verb == "DROP":
			// IF [NOT] EXISTS on a column that is (not) there: nothing to do.
		default:
			return nil, fmt.Errorf("ALTER TABLE %s: cluster mode cannot follow %q; use ADD, MODIFY or DROP COLUMN", name, strings.TrimSpace(op))
		}
	}
	if changed {
		out = append(out, "DROP TABLE IF EXISTS "+r.qualified(name)+r.on(), r.distributed(name))
	}
	return out, nil
}

// splitTop splits s at the commas outside parentheses and quotes.
func splitTop(s string) []string {
	var out []string
	start := 0
	outsideQuotes(s, func(i, depth int) bool {
		if s[i] == ',' && depth == 0 {
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
		return true
	})
	if rest := strings.TrimSpace(s[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

// outsideQuotes calls f with each byte of s outside single quotes, and the
// depth of parentheses there (an opening one counts, a closing one does
// not), until f returns false.
func outsideQuotes(s string, f func(i, depth int) bool) {
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
			continue
		case c == '\'':
			quoted = !quoted
			continue
		case quoted:
			continue
		case c == '(':
			depth++
		case c == ')':
			depth--
		}
		if !f(i, depth) {
			return
		}
	}
}

// localSources points a view's FROM and JOIN at the local tables, so that
// each server's view sees the rows inserted on that server.
func (r *clusterRenderer) localSources(sel string) string {
	return fromRe.ReplaceAllStringFunc(sel, func(m string) string {
		sub := fromRe.FindStringSubmatch(m)
		if r.tables[sub[2]] == nil {
			return m
		}
		return sub[1] + " " + r.qualified(sub[2]+LocalSuffix)
	})
}

func ifNot(s string) string {
	if s != "" {
		return "IF NOT EXISTS "
	}
	return ""
}

// ClusterStatements renders every migration, in order, for a cluster, and
// returns each version's statements; the first entry, at version 0, creates
// schema_migrations. Later migrations are rendered knowing the tables
// earlier ones created, whichever of them a database still misses.
func ClusterStatements(f Features, c Cluster) (map[int][]string, error) {
	_, out, err := renderCluster(f, c)
	return out, err
}

func renderCluster(f Features, c Cluster) (*clusterRenderer, map[int][]string, error) {
	r := newClusterRenderer(c)
	out := map[int][]string{}
	versions, err := r.render(createVersions)
	if err != nil {
		return nil, nil, err
	}
	out[0] = versions
	for _, m := range Migrations() {
		stmts, err := m.Statements(f)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range stmts {
			rendered, err := r.render(s)
			if err != nil {
				return nil, nil, fmt.Errorf("cannot render migration %s for cluster %s: %w", m.Name, c.Name, err)
			}
			out[m.Version] = append(out[m.Version], rendered...)
		}
	}
	return r, out, nil
}

// statements returns what creates schema_migrations (for the zero
// Migration) and each migration's statements: as written for a single
// server, or rendered for o.Cluster, whose inserts through Distributed
// tables then return once every replica of every shard has the rows.
func (o Options) statements(ctx context.Context, conn driver.Conn, f Features) (context.Context, func(Migration) ([]string, error), error) {
	if o.Cluster == "" {
		return ctx, func(m Migration) ([]string, error) {
			if m.Version == 0 {
				return []string{createVersions}, nil
			}
			return m.Statements(f)
		}, nil
	}
	c, err := ReadCluster(ctx, conn, o.Cluster)
	if err != nil {
		return ctx, nil, err
	}
	rendered, err := ClusterStatements(f, c)
	if err != nil {
		return ctx, nil, err
	}
	// Every replica has a version record (and a backfill) when the insert
	// returns, so the next run reads it through whichever replica it asks.
	settings := clickhouse.Settings{"insert_distributed_sync": 1}
	if c.Replicated {
		settings["insert_quorum"] = c.Replicas
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(settings))
	return ctx, func(m Migration) ([]string, error) { return rendered[m.Version], nil }, nil
}

// ReadCluster describes the cluster of that name as the server that conn
// reaches sees it, for the database conn uses.
func ReadCluster(ctx context.Context, conn driver.Conn, name string) (Cluster, error) {
	c := Cluster{Name: name}
	if !store.ValidClusterName(name) {
		return c, fmt.Errorf("cannot use cluster name %q: use letters, digits and '_'", name)
	}
	var shards, replicas uint64
	err := conn.QueryRow(ctx, "SELECT currentDatabase(), uniqExact(shard_num), toUInt64(max(replica_num)) FROM system.clusters WHERE cluster = ?", name).Scan(&c.Database, &shards, &replicas)
	if err != nil {
		return c, fmt.Errorf("cannot read cluster %s: %w", name, err)
	}
	if shards == 0 {
		return c, fmt.Errorf("cluster %s is not in this ClickHouse server's remote_servers", name)
	}
	c.Replicas, c.Replicated = int(replicas), replicas > 1
	return c, nil
}

// exec runs one rendered statement: through conn, or, for an EachShard
// statement, on the first replica of each shard that answers.
func (o Options) exec(ctx context.Context, conn driver.Conn, stmt string) error {
	stmt, each := strings.CutPrefix(stmt, EachShard)
	if !each {
		return conn.Exec(ctx, stmt)
	}
	return OnEachShard(ctx, conn, o.DSN, o.Cluster, func(ctx context.Context, c driver.Conn) error { return c.Exec(ctx, stmt) })
}

// OnEachShard calls fn with a connection to the first replica of each
// shard of the cluster that answers, shard by shard, as the user and to
// the database of dsn; conn is any server of the cluster. Replication
// brings what fn writes to a shard's other replicas.
func OnEachShard(ctx context.Context, conn driver.Conn, dsn, cluster string, fn func(context.Context, driver.Conn) error) error {
	if dsn == "" {
		return errors.New("cannot run a statement on each shard: no address to reach the shards with")
	}
	rows, err := conn.Query(ctx, "SELECT shard_num, host_address, port FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num", cluster)
	if err != nil {
		return fmt.Errorf("cannot read cluster %s: %w", cluster, err)
	}
	var shards [][]string
	for rows.Next() {
		var shard uint32
		var host string
		var port uint16
		if err := rows.Scan(&shard, &host, &port); err != nil {
			rows.Close()
			return fmt.Errorf("cannot read cluster %s: %w", cluster, err)
		}
		if len(shards) < int(shard) {
			shards = append(shards, nil)
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], net.JoinHostPort(host, strconv.Itoa(int(port))))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read cluster %s: %w", cluster, err)
	}
	if len(shards) == 0 {
		return fmt.Errorf("cluster %s is not in this ClickHouse server's remote_servers", cluster)
	}
	for i, replicas := range shards {
		var errs []error
		for _, host := range replicas {
			c, err := store.Open(ctx, dsn, store.Options{Host: host})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			err = fn(ctx, c)
			c.Close()
			if err != nil {
				return fmt.Errorf("on %s (shard %d): %w", host, i+1, err)
			}
			errs = nil
			break
		}
		if errs != nil {
			return fmt.Errorf("no replica of shard %d answers: %w", i+1, errors.Join(errs...))
		}
	}
	return nil
}

// Unreplicated is a local table's engine clause (system.tables'
// engine_full) without replication: ReplicatedXMergeTree('path',
// 'replica', args...) ... becomes XMergeTree(args...) ..., the same
// partitions and order. A table made with it, AS the local table, takes
// the local table's rows and gives them back (REPLACE PARTITION) without
// joining its replicas in ZooKeeper, as a table made AS it alone would.
// Other engines are returned as they are.
func Unreplicated(engine string) string {
	rest, ok := strings.CutPrefix(engine, "Replicated")
	if !ok {
		return engine
	}
	open := strings.IndexByte(rest, '(')
	if open < 0 {
		return engine
	}
	end := -1
	outsideQuotes(rest[open:], func(i, depth int) bool {
		if rest[open+i] == ')' && depth == 0 {
			end = open + i
		}
		return end < 0
	})
	if end < 0 {
		return engine
	}
	args := splitTop(rest[open+1 : end])
	if len(args) < 2 {
		return engine
	}
	return rest[:open] + "(" + strings.Join(args[2:], ", ") + ")" + rest[end+1:]
}
