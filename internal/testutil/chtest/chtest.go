// Package chtest gives integration tests a fresh, migrated database on the
// real ClickHouse server that `make test` starts.
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/schema"
)

// Addr is the test server: $CREDSTATS_TEST_CLICKHOUSE, or the one `make
// test` starts.
func Addr() string {
	if a := os.Getenv("CREDSTATS_TEST_CLICKHOUSE"); a != "" {
		return strings.TrimSuffix(a, "/")
	}
	return "clickhouse://127.0.0.1:19000"
}

// New creates a database with a random name, migrates it, and drops it
// when the test ends. It returns the database's address and a connection.
func New(t testing.TB) (dsn string, conn driver.Conn) {
	t.Helper()
	dsn = Name(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := store.EnsureDatabase(ctx, dsn); err != nil {
		t.Fatalf("%v (is the test ClickHouse running? `make test` starts it)", err)
	}
	conn, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, _, err := schema.Migrate(ctx, conn, schema.Options{}); err != nil {
		t.Fatal(err)
	}
	return dsn, conn
}

// Name returns the address of a database with a random name, without
// creating it, and drops the database when the test ends if something
// created it.
func Name(t testing.TB) (dsn string) {
	b := make([]byte, 6)
	rand.Read(b)
	db := "test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := store.Open(ctx, Addr()+"/default", store.Options{})
		if err != nil {
			t.Errorf("cannot drop %s: %v", db, err)
			return
		}
		defer conn.Close()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("cannot drop %s: %v", db, err)
		}
	})
	return Addr() + "/" + db
}

// Open connects to a database that something else created, and closes the
// connection when the test ends.
func Open(t testing.TB, dsn string) driver.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// HostPort is the test server's native-protocol address, for a proxy to
// stand in front of.
func HostPort() string {
	a := strings.TrimPrefix(strings.TrimPrefix(Addr(), "clickhouse://"), "tcp://")
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		a = a[i+1:]
	}
	return a
}

// WaitMutations waits until the database's ALTER ... DELETE/UPDATE
// mutations have finished.
func WaitMutations(t testing.TB, conn driver.Conn) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var running uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0").Scan(&running); err != nil {
			t.Fatal(err)
		}
		if running == 0 {
			return
		}
	}
	t.Fatal("mutations did not finish in 10s")
}
