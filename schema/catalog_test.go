package schema_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/catalog"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/internal/testutil/chtest"
	"github.com/credstats/credstats/schema"
)

// TestTheLiveSchemaIsTheCatalog: on a freshly migrated database every
// table of the catalog has exactly the catalog's columns and types, every
// Enum8 column exactly its enum's names and codes, and every view selects
// what the catalog says. So a value added
// to an enum in Go without a migration fails here, and so does a
// migration that changes a column without the catalog.
func TestTheLiveSchemaIsTheCatalog(t *testing.T) {
	ctx := context.Background()
	_, conn := chtest.New(t)
	for _, d := range catalogDiff(t, conn) {
		t.Error(d)
	}
	// What a migration that added a network without the catalog would do.
	added := strings.TrimSuffix(event.NetworkEnum.Enum8(), ")") + ", 'mastodon' = 99)"
	if err := conn.Exec(ctx, "ALTER TABLE group_15m MODIFY COLUMN network "+added); err != nil {
		t.Fatal(err)
	}
	if d := catalogDiff(t, conn); len(d) != 1 || !strings.Contains(d[0], "group_15m.network") {
		t.Errorf("after a change the catalog does not know of: %q, want one difference in group_15m.network", d)
	}
}

// catalogDiff lists the differences between the catalog and the live
// schema.
func catalogDiff(t *testing.T, conn driver.Conn) (diffs []string) {
	t.Helper()
	major, minor, err := store.Version(conn)
	if err != nil {
		t.Fatal(err)
	}
	dict := schema.FeaturesFor(major, minor).Dict
	for _, table := range catalog.Tables() {
		live := liveColumns(t, conn, table.Name)
		if len(live) == 0 {
			diffs = append(diffs, table.Name+": no such table")
			continue
		}
		for _, c := range table.Columns {
			l, ok := live[c.Name]
			delete(live, c.Name)
			at := table.Name + "." + c.Name
			switch {
			case !ok:
				diffs = append(diffs, at+": not in the database")
			case c.Enum != nil:
				if got, want := enumValues(l.typ), c.Enum.Values(); !slices.Equal(got, want) {
					diffs = append(diffs, fmt.Sprintf("%s: only in the database %v, only in the catalog %v", at, without(got, want), without(want, got)))
				}
			case l.typ != c.TypeFor(dict):
				diffs = append(diffs, fmt.Sprintf("%s: type %s, the catalog says %s", at, l.typ, c.TypeFor(dict)))
			}
			if wantKind := map[bool]string{true: "MATERIALIZED"}[c.Materialized != ""]; ok && (l.kind != wantKind || l.expr != c.Materialized) {
				diffs = append(diffs, fmt.Sprintf("%s: %s %q, the catalog says %s %q", at, l.kind, l.expr, wantKind, c.Materialized))
			}
		}
		for name := range live {
			diffs = append(diffs, table.Name+"."+name+": not in the catalog")
		}
	}
	return append(diffs, viewDiff(t, conn)...)
}

// viewDiff lists the columns whose materialized view selects something
// other than the catalog's Expr.
func viewDiff(t *testing.T, conn driver.Conn) (diffs []string) {
	t.Helper()
	for _, table := range catalog.Fed() {
		var query string
		err := conn.QueryRow(context.Background(), "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = ?", table.Name+"_mv").Scan(&query)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s_mv: %v", table.Name, err))
			continue
		}
		for _, c := range table.Columns {
			if expr := table.ViewExpr(c); expr != "" && !strings.Contains(query, expr+" AS "+c.Name) {
				diffs = append(diffs, fmt.Sprintf("%s_mv: does not select %s AS %s", table.Name, expr, c.Name))
			}
		}
		if grouped := strings.Contains(query, "GROUP BY"); grouped == table.PerEvent {
			diffs = append(diffs, fmt.Sprintf("%s_mv: GROUP BY %v, the catalog says a row per event %v", table.Name, grouped, table.PerEvent))
		}
	}
	return diffs
}

type liveColumn struct{ typ, kind, expr string }

func liveColumns(t *testing.T, conn driver.Conn, table string) map[string]liveColumn {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT name, type, default_kind, default_expression FROM system.columns WHERE database = currentDatabase() AND table = ?", table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols := map[string]liveColumn{}
	for rows.Next() {
		var name string
		var c liveColumn
		if err := rows.Scan(&name, &c.typ, &c.kind, &c.expr); err != nil {
			t.Fatal(err)
		}
		cols[name] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cols
}

var enumValue = regexp.MustCompile(`'((?:[^'\\]|\\.)*)' = (-?\d+)`)

// enumValues reads the names and codes of a type such as
// Enum8('view' = 1, 'share' = 2); nil for a type that is not an Enum8.
func enumValues(typ string) []event.Value {
	if !strings.HasPrefix(typ, "Enum8(") {
		return nil
	}
	var vs []event.Value
	for _, m := range enumValue.FindAllStringSubmatch(typ, -1) {
		code, _ := strconv.ParseInt(m[2], 10, 8)
		vs = append(vs, event.Value{Name: m[1], Code: int8(code)})
	}
	return vs
}

func without(vs, others []event.Value) []event.Value {
	return slices.DeleteFunc(slices.Clone(vs), func(v event.Value) bool { return slices.Contains(others, v) })
}
