// Package cluster tests credstats on the ClickHouse cluster that
// scripts/cluster.sh starts on loopback: ZooKeeper, four ClickHouse 18.16
// servers as two shards of two replicas (cluster "credstats"), and nginx in
// front of two collectors that the tests start. `make test-cluster` starts
// it and runs them; without CREDSTATS_TEST_CLUSTER they are skipped.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/schema"
)

const clusterName = "credstats"

// The servers of the cluster, by the names scripts/cluster.sh gives them:
// shard 1 is ch1 and ch2, shard 2 ch3 and ch4.
var nodes = []string{"ch1", "ch2", "ch3", "ch4"}

func port(node string) int {
	return map[string]int{"ch1": 19401, "ch2": 19402, "ch3": 19403, "ch4": 19404}[node]
}

func dsn(db string, nodes ...string) string {
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", port(n))
	}
	return "clickhouse://" + strings.Join(addrs, ",") + "/" + db
}

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// needCluster skips the test unless `make test-cluster` (or a person who
// ran scripts/cluster.sh start) asked for it.
func needCluster(t testing.TB) {
	t.Helper()
	if os.Getenv("CREDSTATS_TEST_CLUSTER") == "" {
		t.Skip("needs the local cluster: `make test-cluster` (scripts/cluster.sh start, then CREDSTATS_TEST_CLUSTER=1)")
	}
}

// clusterScript runs scripts/cluster.sh with args.
func clusterScript(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root(), "scripts", "cluster.sh"), args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newDatabase creates a database with a random name on every server,
// migrated for the cluster through ch1, and drops it when the test ends.
func newDatabase(t testing.TB) string {
	t.Helper()
	db := emptyDatabase(t)
	conn := open(t, db, "ch1")
	if _, _, err := schema.Migrate(context.Background(), conn, schema.Options{Cluster: clusterName, DSN: dsn(db, "ch1")}); err != nil {
		t.Fatal(err)
	}
	return db
}

// emptyDatabase creates a database with a random name on every server and
// drops it when the test ends.
func emptyDatabase(t testing.TB) string {
	t.Helper()
	needCluster(t)
	db := randomName()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := store.EnsureClusterDatabase(ctx, dsn(db, "ch1"), clusterName); err != nil {
		t.Fatalf("%v (is the cluster running? `make test-cluster` starts it)", err)
	}
	dropAtEnd(t, db)
	return db
}

func randomName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "cluster_" + hex.EncodeToString(b)
}

// dropAtEnd drops db from every server when the test ends.
func dropAtEnd(t testing.TB, db string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := store.Open(ctx, dsn("default", "ch1"), store.Options{})
		if err != nil {
			t.Errorf("cannot drop %s: %v", db, err)
			return
		}
		defer conn.Close()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" ON CLUSTER "+clusterName); err != nil {
			t.Errorf("cannot drop %s: %v", db, err)
		}
	})
}

// open connects to db on the given servers (the first that answers), as
// credstats does in cluster mode.
func open(t testing.TB, db string, nodes ...string) driver.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := store.Open(ctx, dsn(db, nodes...), store.Options{Cluster: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func count(t testing.TB, conn driver.Conn, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// syncReplicas waits until every replica of db has fetched what the others
// wrote: a read through a Distributed table asks one replica a shard, and
// a replica may be a moment behind the one that took an insert.
func syncReplicas(t testing.TB, db string) {
	t.Helper()
	ctx := context.Background()
	for _, node := range nodes {
		conn := open(t, db, node)
		for _, table := range column(t, conn, "SELECT table FROM system.replicas WHERE database = currentDatabase()") {
			if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA "+db+"."+table); err != nil {
				t.Fatalf("%s: sync %s: %v", node, table, err)
			}
		}
	}
}

// column runs a query of one string column and returns its values.
func column(t testing.TB, conn driver.Conn, query string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}
