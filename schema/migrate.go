// Package schema holds the ClickHouse DDL as numbered, embedded .sql files
// and the runner that applies them in order, recording each version.
//
// A file is a text/template over Features, so that what only newer servers
// have is switched on by server version; statements end with a semicolon at
// the end of a line.
//
// A new migration renders what internal/catalog describes instead of
// restating it, with these template functions:
//
//	{{enum "network"}}      the Enum8 type of an events column: Enum8('' = 0, 'linkedin' = 1, ...)
//	{{tables}}              every catalog.Table: events, credential_daily, the rollups'
//	{{table "events"}}      the catalog.Table of that name
//	{{rollup "group_15m"}}  a catalog.Rollup, with .Name, .Grain, .Keys and .Columns
//	{{columns .Columns}}    column definitions, "name Type", one a line
//	{{selects .Columns}}    a rollup's SELECT list from events, one a line
//	{{names .Keys}}         column names joined by commas (a Table's Keys: all but its counts)
//
// A column's type for the server is {{.TypeFor $.Dict}}. A value added to
// an event's enum in internal/event, for example, reaches every table that
// stores the enum with
//
//	{{range $t := tables}}{{range $t.Columns}}{{if eq .Name "network"}}
//	ALTER TABLE {{$t.Name}} MODIFY COLUMN network {{enum "network"}};
//	{{- end}}{{end}}{{end}}
//
// and a new rollup, added to the catalog, is created, filled and fed with
//
//	{{with rollup "group_15m"}}
//	CREATE TABLE IF NOT EXISTS {{.Name}} (
//	    {{columns .Columns}}
//	) ENGINE = SummingMergeTree
//	PARTITION BY toYYYYMM({{.Grain.Column.Name}})
//	ORDER BY (group_id, t, type, network, actor);
//
//	INSERT INTO {{.Name}} ({{names .Columns}})
//	SELECT
//	    {{selects .Columns}}
//	FROM events
//	WHERE bot_reason = '' AND (SELECT count() FROM {{.Name}}) = 0
//	GROUP BY {{names .Keys}};
//
//	CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Name}}_mv TO {{.Name}} AS
//	SELECT
//	    {{selects .Columns}}
//	FROM events
//	WHERE bot_reason = ''
//	GROUP BY {{names .Keys}};
//	{{end}}
//
// The catalog is the schema as the migrations leave it, which a test holds
// against a live server; the shipped migrations keep the text they were
// applied with, so a change to the catalog needs a new migration.
package schema

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/catalog"
	"github.com/credstats/credstats/internal/store"
)

//go:embed sql/*.sql
var files embed.FS

// Features are what a migration may switch on by server version.
type Features struct {
	// Dict is the column type for repetitive strings: LowCardinality(String)
	// where the server has it as a stable type (19.x had it experimental),
	// String elsewhere.
	Dict string
}

// FeaturesFor returns the features of a server version.
func FeaturesFor(major, minor uint64) Features {
	f := Features{Dict: "String"}
	if major >= 20 {
		f.Dict = "LowCardinality(String)"
	}
	return f
}

// funcs are the template functions over the catalog (see the package
// comment) for a server with these features.
func (f Features) funcs() template.FuncMap {
	join := func(cs []catalog.Column, sep string, text func(catalog.Column) string) string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = text(c)
		}
		return strings.Join(out, sep)
	}
	// Column definitions and select lists take a line each, indented as
	// the first.
	const line = ",\n    "
	return template.FuncMap{
		"enum": func(column string) (string, error) {
			c, ok := catalog.EventsTable.Column(column)
			if !ok || c.Enum == nil {
				return "", fmt.Errorf("events has no Enum8 column %q", column)
			}
			return c.Type, nil
		},
		"tables": catalog.Tables,
		"table": func(name string) (catalog.Table, error) {
			return named(catalog.Tables(), name, func(t catalog.Table) string { return t.Name })
		},
		"rollup": func(name string) (catalog.Rollup, error) {
			return named(catalog.Rollups, name, func(r catalog.Rollup) string { return r.Name })
		},
		"columns": func(cs []catalog.Column) string {
			return join(cs, line, func(c catalog.Column) string {
				if c.Materialized != "" {
					return c.Name + " " + c.TypeFor(f.Dict) + " MATERIALIZED " + c.Materialized
				}
				return c.Name + " " + c.TypeFor(f.Dict)
			})
		},
		"selects": func(cs []catalog.Column) string {
			return join(cs, line, func(c catalog.Column) string {
				if c.Expr != "" {
					return c.Expr + " AS " + c.Name
				}
				return c.Name
			})
		},
		"names": func(cs []catalog.Column) string {
			return join(cs, ", ", func(c catalog.Column) string { return c.Name })
		},
	}
}

func named[T any](xs []T, name string, nameOf func(T) string) (T, error) {
	i := slices.IndexFunc(xs, func(x T) bool { return nameOf(x) == name })
	if i < 0 {
		var zero T
		return zero, fmt.Errorf("the catalog has no table %q", name)
	}
	return xs[i], nil
}

// Migration is one numbered file.
type Migration struct {
	Version int
	Name    string
	text    string
}

// Migrations returns the embedded migrations in order.
func Migrations() []Migration {
	entries, err := fs.ReadDir(files, "sql")
	if err != nil {
		panic(err) // The files are embedded: this cannot fail at run time.
	}
	var ms []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			panic("schema: migration file without a number: " + e.Name())
		}
		text, _ := files.ReadFile(path.Join("sql", e.Name()))
		ms = append(ms, Migration{Version: v, Name: e.Name(), text: string(text)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms
}

// Latest is the version the embedded migrations lead to.
func Latest() int {
	ms := Migrations()
	return ms[len(ms)-1].Version
}

// Statements renders the migration for the given features and splits it
// into statements.
func (m Migration) Statements(f Features) ([]string, error) {
	t, err := template.New(m.Name).Funcs(f.funcs()).Option("missingkey=error").Parse(m.text)
	if err != nil {
		return nil, fmt.Errorf("cannot parse migration %s: %w", m.Name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, f); err != nil {
		return nil, fmt.Errorf("cannot render migration %s: %w", m.Name, err)
	}
	var stmts []string
	var cur strings.Builder
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			stmts = append(stmts, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		stmts = append(stmts, rest)
	}
	return stmts, nil
}

const createVersions = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    dirty UInt8,
    applied_at DateTime,
    seq UInt64
) ENGINE = MergeTree ORDER BY seq`

// State is the applied schema: the highest version, whether a migration
// stopped half-way (Dirty: a person needs to look at it), and the embedded
// migrations not applied yet.
type State struct {
	Version int
	Dirty   bool
	Missing []int
}

// Current reads the applied schema; a database never migrated is version 0
// with every migration missing.
func Current(ctx context.Context, conn driver.Conn) (State, error) {
	var st State
	var exists uint8
	if err := conn.QueryRow(ctx, "SELECT count() > 0 FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations'").Scan(&exists); err != nil {
		return st, fmt.Errorf("cannot read the schema version: %w", err)
	}
	clean := map[int]bool{}
	if exists == 1 {
		rows, err := conn.Query(ctx, "SELECT version, argMax(dirty, seq), max(seq) FROM schema_migrations GROUP BY version")
		if err != nil {
			return st, fmt.Errorf("cannot read the schema version: %w", err)
		}
		var lastSeq uint64
		for rows.Next() {
			var version uint32
			var dirty uint8
			var seq uint64
			if err := rows.Scan(&version, &dirty, &seq); err != nil {
				rows.Close()
				return st, fmt.Errorf("cannot read the schema version: %w", err)
			}
			clean[int(version)] = dirty == 0
			st.Version = max(st.Version, int(version))
			if seq > lastSeq {
				lastSeq, st.Dirty = seq, dirty == 1
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return st, fmt.Errorf("cannot read the schema version: %w", err)
		}
	}
	for _, m := range Migrations() {
		if !clean[m.Version] {
			st.Missing = append(st.Missing, m.Version)
		}
	}
	return st, nil
}

// Ready reports whether the schema is what this build needs.
func (st State) Ready() bool { return !st.Dirty && len(st.Missing) == 0 }

// Options for Migrate.
type Options struct {
	Logger *slog.Logger
	// Force applies migrations even when the recorded version is dirty,
	// after a person has repaired the half-applied one.
	Force bool
	// Cluster renders every migration for this cluster of the server's
	// remote_servers (see Cluster); empty for a single server.
	Cluster string
	// DSN is the address conn was opened with: on a cluster whose shards
	// have replicas, ALTERs go to one replica of each shard as its user.
	DSN string
	// Upto stops after the migration of that version (0: all), for tests
	// that upgrade a schema holding data.
	Upto int
}

// Migrate applies, in order, every embedded migration not yet applied
// (also one numbered below the highest applied, as happens when branches
// merge) and returns the highest versions it went from and to. It refuses
// to run on a half-applied (dirty) version unless forced.
func Migrate(ctx context.Context, conn driver.Conn, o Options) (from, to int, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	major, minor, err := store.Version(conn)
	if err != nil {
		return 0, 0, err
	}
	features := FeaturesFor(major, minor)
	ctx, statements, err := o.statements(ctx, conn, features)
	if err != nil {
		return 0, 0, err
	}
	versions, _ := statements(Migration{})
	for _, s := range versions {
		if err := conn.Exec(ctx, s); err != nil {
			return 0, 0, fmt.Errorf("cannot create schema_migrations: %w", err)
		}
	}
	st, err := Current(ctx, conn)
	if err != nil {
		return 0, 0, err
	}
	if st.Dirty && !o.Force {
		return st.Version, st.Version, fmt.Errorf("schema version %d is dirty: a migration stopped half-way; repair it by hand, then run `credstats migrate --force`", st.Version)
	}
	from, to = st.Version, st.Version
	for _, m := range Migrations() {
		if !slices.Contains(st.Missing, m.Version) || o.Upto > 0 && m.Version > o.Upto {
			continue
		}
		stmts, err := statements(m)
		if err != nil {
			return from, to, err
		}
		if err := record(ctx, conn, m.Version, true); err != nil {
			return from, to, err
		}
		for _, s := range stmts {
			if err := o.exec(ctx, conn, s); err != nil {
				return from, to, fmt.Errorf("cannot apply migration %s (version %d left dirty): %w", m.Name, m.Version, err)
			}
		}
		if err := record(ctx, conn, m.Version, false); err != nil {
			return from, to, err
		}
		o.Logger.Info("migration applied", "version", m.Version, "name", m.Name)
		to = max(to, m.Version)
	}
	return from, to, nil
}

func record(ctx context.Context, conn driver.Conn, version int, dirty bool) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, dirty, applied_at, seq)")
	if err != nil {
		return fmt.Errorf("cannot record schema version %d: %w", version, err)
	}
	var d uint8
	if dirty {
		d = 1
	}
	now := time.Now()
	if err := b.Append(uint32(version), d, now, uint64(now.UnixNano())); err != nil {
		return fmt.Errorf("cannot record schema version %d: %w", version, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot record schema version %d: %w", version, err)
	}
	return nil
}
