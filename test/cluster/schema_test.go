package cluster

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/credstats/credstats/schema"
)

// The schema is created on every server, its version recorded once for
// the whole cluster and read alike through any server.
func TestMigrateRecordsTheVersionOncePerCluster(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	for _, node := range nodes {
		conn := open(t, db, node)
		st, err := schema.Current(ctx, conn)
		if err != nil || !st.Ready() || st.Version != schema.Latest() {
			t.Fatalf("%s: state %+v, %v; want version %d ready", node, st, err, schema.Latest())
		}
		for _, table := range []string{"events", "events_local", "credential_daily", "credential_daily_local", "credential_daily_mv", "schema_migrations_local"} {
			if n := count(t, conn, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ?", table); n != 1 {
				t.Errorf("%s: %d tables %s", node, n, table)
			}
		}
		var engine string
		if err := conn.QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = 'credential_daily_local'").Scan(&engine); err != nil || engine != "ReplicatedAggregatingMergeTree" {
			t.Errorf("%s: credential_daily_local is %q, %v", node, engine, err)
		}
	}
	// Two records a version (dirty, then clean), through the Distributed
	// table: once per cluster, not once per server.
	conn := open(t, db, "ch3")
	if n, want := count(t, conn, "SELECT count() FROM schema_migrations"), uint64(2*len(schema.Migrations())); n != want {
		t.Errorf("%d version records in the cluster, want %d", n, want)
	}
	if from, to, err := schema.Migrate(ctx, open(t, db, "ch4"), schema.Options{Cluster: clusterName, DSN: dsn(db, "ch4")}); err != nil || from != to {
		t.Errorf("second run through ch4: %d -> %d, %v; want no change", from, to, err)
	}
}

// A migration that stopped half-way on one server leaves its version dirty
// for the whole cluster: the runner refuses it through any server until
// forced.
func TestAHalfAppliedClusterMigrationIsRefused(t *testing.T) {
	ctx := context.Background()
	db := emptyDatabase(t)
	// On ch4 alone, an events_local that the views of migration 2 cannot
	// read: migration 1 passes (IF NOT EXISTS), migration 2 stops on ch4
	// after the other servers created their view.
	if err := open(t, db, "ch4").Exec(ctx, "CREATE TABLE events_local (x UInt8) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}
	_, to, err := schema.Migrate(ctx, open(t, db, "ch1"), schema.Options{Cluster: clusterName, DSN: dsn(db, "ch1")})
	if err == nil || !strings.Contains(err.Error(), "version 2 left dirty") || !strings.Contains(err.Error(), "19404") || to != 1 {
		t.Fatalf("migrate with a broken ch4: to %d, %v; want version 2 left dirty by 127.0.0.1:19404", to, err)
	}
	st, err := schema.Current(ctx, open(t, db, "ch3"))
	if err != nil || !st.Dirty || st.Version != 2 {
		t.Fatalf("state through ch3: %+v, %v; want version 2 dirty", st, err)
	}
	_, _, err = schema.Migrate(ctx, open(t, db, "ch2"), schema.Options{Cluster: clusterName, DSN: dsn(db, "ch2")})
	if err == nil || !strings.Contains(err.Error(), "dirty") {
		t.Fatalf("migrate through ch2 over a dirty version: %v, want a refusal", err)
	}

	// The repair a person makes: the stray table goes and the forced run
	// creates on ch4 what it misses (every CREATE says IF NOT EXISTS);
	// version 1 was clean, so the repair re-applies it first by hand.
	ch4 := open(t, db, "ch4")
	if err := ch4.Exec(ctx, "DROP TABLE events_local"); err != nil {
		t.Fatal(err)
	}
	first, err := schema.ClusterStatements(schema.FeaturesFor(18, 16), schema.Cluster{Name: clusterName, Database: db, Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch4.Exec(ctx, strings.Replace(first[1][0], " ON CLUSTER "+clusterName, "", 1)); err != nil {
		t.Fatal(err)
	}
	if _, to, err := schema.Migrate(ctx, open(t, db, "ch2"), schema.Options{Cluster: clusterName, DSN: dsn(db, "ch2"), Force: true}); err != nil || to != schema.Latest() {
		t.Fatalf("forced migrate: to %d, %v", to, err)
	}
	for _, node := range nodes {
		st, err := schema.Current(ctx, open(t, db, node))
		if err != nil || !st.Ready() {
			t.Errorf("%s after the repair: %+v, %v", node, st, err)
		}
	}
}

// `credstats migrate` takes the cluster from CREDSTATS_CLUSTER as from
// --cluster, creates the database on every server and migrates it.
func TestMigrateCommandOnACluster(t *testing.T) {
	needCluster(t)
	db := randomName()
	dropAtEnd(t, db)
	cmd := exec.Command(binary(t), "migrate", "--clickhouse", dsn(db, "ch3", "ch4"))
	cmd.Env = append(os.Environ(), "CREDSTATS_CLUSTER="+clusterName)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("credstats migrate: %v\n%s", err, out)
	}
	for _, node := range nodes {
		st, err := schema.Current(context.Background(), open(t, db, node))
		if err != nil || !st.Ready() {
			t.Errorf("%s: %+v, %v", node, st, err)
		}
	}
}
