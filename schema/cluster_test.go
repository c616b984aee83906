package schema

import (
	"strings"
	"testing"
)

var testCluster = Cluster{Name: "c1", Database: "db", Replicated: true, Replicas: 2}

// Every shipped migration renders for a cluster: a new one that uses a
// statement cluster mode cannot follow fails here, naming it.
func TestEveryMigrationRendersForACluster(t *testing.T) {
	for _, c := range []Cluster{testCluster, {Name: "c1", Database: "db"}} {
		out, err := ClusterStatements(FeaturesFor(18, 16), c)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range Migrations() {
			if len(out[m.Version]) == 0 {
				t.Errorf("%s renders to nothing", m.Name)
			}
			for _, s := range out[m.Version] {
				each := strings.HasPrefix(s, EachShard+"ALTER TABLE db.") && c.Replicated
				if !strings.HasPrefix(s, "INSERT") && !each && !strings.Contains(s, " ON CLUSTER c1") {
					t.Errorf("%s: neither ON CLUSTER nor on each shard:\n%s", m.Name, s)
				}
				if strings.Contains(s, "Replicated") != c.Replicated && strings.Contains(s, "MergeTree") {
					t.Errorf("%s: replicated %v:\n%s", m.Name, c.Replicated, s)
				}
			}
		}
	}
}

// The catalog template of render_test.go, and the other statement forms a
// migration may use, rendered for a cluster after the shipped migrations.
func TestATemplateRendersForACluster(t *testing.T) {
	text := catalogTemplate + `
DROP TABLE IF EXISTS traffic_daily_copy_mv;

ALTER TABLE events_copy ADD COLUMN note String AFTER id, DROP COLUMN url_path;

ALTER TABLE events_copy DELETE WHERE credential = 'x';

ALTER TABLE events_copy DROP PARTITION 202601;

DROP TABLE events_copy;
`
	text = strings.Replace(text, "ENGINE = Memory", "ENGINE = MergeTree\nORDER BY id", 1)
	// After the shipped migrations, which created the tables.
	r, _, err := renderCluster(FeaturesFor(18, 16), testCluster)
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := (Migration{Version: 999, Name: "999_example.sql", text: text}).Statements(FeaturesFor(18, 16))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range stmts {
		out, err := r.render(s)
		if err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
		got = append(got, out...)
	}
	golden(t, "testdata/cluster_template.golden", strings.Join(got, ";\n\n")+";\n")
}

func TestClusterRenderingRefuses(t *testing.T) {
	f := func(stmt, want string) {
		t.Helper()
		r := newClusterRenderer(testCluster)
		r.tables["events"] = &shardedTable{key: "sipHash64(credential)", columns: []column{{"credential", "String"}}}
		_, err := r.render(stmt)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", stmt, err, want)
		}
	}
	f("CREATE TABLE t (a UInt8) ENGINE = Memory", "cannot be sharded")
	f("CREATE TABLE t (a UInt8) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY a", "without Replicated")
	f("CREATE MATERIALIZED VIEW v ENGINE = MergeTree ORDER BY a AS SELECT a FROM events", "may not use")
	f("RENAME TABLE events TO e2, e2 TO e3", "may not use")
	f("RENAME TABLE nowhere TO e2", "renames a table a migration created")
	f("RENAME TABLE events TO events", "to a name no table has")
	f("OPTIMIZE TABLE events FINAL", "may not use")
	f("ALTER TABLE nowhere DELETE WHERE 1", "no migration created")
	f("ALTER TABLE events RENAME COLUMN credential TO c", "cannot follow")
}

func TestClusterRenderingKeepsColumnsInStep(t *testing.T) {
	r := newClusterRenderer(testCluster)
	if _, err := r.render("CREATE TABLE t (id String, n UInt8, m UInt8 MATERIALIZED n * 2) ENGINE = ReplacingMergeTree(n) ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	out, err := r.render("ALTER TABLE t MODIFY COLUMN m UInt16, ADD COLUMN IF NOT EXISTS k String AFTER id, DROP COLUMN IF EXISTS zz")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		EachShard + "ALTER TABLE db.t_local MODIFY COLUMN m UInt16, ADD COLUMN IF NOT EXISTS k String AFTER id, DROP COLUMN IF EXISTS zz",
		"DROP TABLE IF EXISTS db.t ON CLUSTER c1",
		"CREATE TABLE IF NOT EXISTS db.t ON CLUSTER c1 (\n    id String,\n    k String,\n    n UInt8,\n    m UInt16 ALIAS n * 2\n) ENGINE = Distributed(c1, db, t_local, sipHash64(id))",
	}
	if strings.Join(out, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(out, "\n"), strings.Join(want, "\n"))
	}
}

// A table renamed on a cluster: its local tables on every server, and a
// Distributed table under the new name, which a later statement can drop.
func TestClusterRenamesATable(t *testing.T) {
	r := newClusterRenderer(testCluster)
	var got []string
	for _, stmt := range []string{
		"CREATE TABLE t (credential String, n UInt8) ENGINE = MergeTree ORDER BY credential",
		"RENAME TABLE t TO t_old",
		"DROP TABLE t_old",
	} {
		out, err := r.render(stmt)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out[len(out)-min(len(out), 3):]...)
	}
	want := []string{
		"CREATE TABLE db.t_local ON CLUSTER c1 (credential String, n UInt8) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/t_local', '{replica}')\nORDER BY credential",
		"CREATE TABLE IF NOT EXISTS db.t ON CLUSTER c1 (\n    credential String,\n    n UInt8\n) ENGINE = Distributed(c1, db, t_local, sipHash64(credential))",
		"RENAME TABLE db.t_local TO db.t_old_local ON CLUSTER c1",
		"DROP TABLE IF EXISTS db.t ON CLUSTER c1",
		"CREATE TABLE IF NOT EXISTS db.t_old ON CLUSTER c1 (\n    credential String,\n    n UInt8\n) ENGINE = Distributed(c1, db, t_old_local, sipHash64(credential))",
		"DROP TABLE db.t_old ON CLUSTER c1",
		"DROP TABLE db.t_old_local ON CLUSTER c1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestUnreplicated(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/db/t_local', '{replica}') PARTITION BY toYYYYMM(day) ORDER BY (k, day) SETTINGS index_granularity = 8192`,
			`SummingMergeTree() PARTITION BY toYYYYMM(day) ORDER BY (k, day) SETTINGS index_granularity = 8192`},
		{`ReplicatedSummingMergeTree('/p/t_local', '{replica}', (events, views)) ORDER BY k`, `SummingMergeTree((events, views)) ORDER BY k`},
		{`ReplicatedReplacingMergeTree('/p/it\'s, (odd)', '{replica}', version) ORDER BY id`, `ReplacingMergeTree(version) ORDER BY id`},
		{`AggregatingMergeTree PARTITION BY toYYYYMM(day) ORDER BY k`, `AggregatingMergeTree PARTITION BY toYYYYMM(day) ORDER BY k`},
		{`Distributed(c, db, t_local, rand())`, `Distributed(c, db, t_local, rand())`},
		{`ReplicatedMergeTree('/only-a-path') ORDER BY k`, `ReplicatedMergeTree('/only-a-path') ORDER BY k`},
	} {
		if got := Unreplicated(c.in); got != c.want {
			t.Errorf("Unreplicated(%q)\n = %q\nwant %q", c.in, got, c.want)
		}
	}
}
