package main

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/spool"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

type downSink struct{}

func (downSink) Write(context.Context, collector.Batch) error {
	return errors.New("ClickHouse is down")
}

// TestEraseCommandTakesTheSpool: events a stopped server left in its spool
// are written first and erased with the rest, so no later start stores
// them again; the other credentials' waiting events are written as usual.
func TestEraseCommandTakesTheSpool(t *testing.T) {
	dsn, conn := chtest.New(t)
	dir := t.TempDir()
	c, err := collector.New(collector.Options{Sink: downSink{}, DataDir: dir, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i, cred := range []string{"cred-gone", "cred-gone", "cred-kept"} {
		ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
		if _, err := c.Ingest(collector.Hit{Input: event.Input{Credential: cred, Type: "view"}, Source: event.Beacon, IP: ip,
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	c.Close(ctx) // gives up: the events stay in the spool
	cancel()

	if err := eraseCmd([]string{"--clickhouse", dsn, "--data-dir", dir, "--credential", "cred-gone"}); err != nil {
		t.Fatal(err)
	}
	count := func(cred string) (n uint64) {
		t.Helper()
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM events WHERE credential = ?", cred).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if g, k := count("cred-gone"), count("cred-kept"); g != 0 || k != 1 {
		t.Errorf("after the erasure: %d events of the erased credential, %d of the other, want 0 and 1", g, k)
	}
	sp, err := spool.Open(spool.Options{Dir: filepath.Join(dir, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	if p := sp.Stats().Pending; p != 0 {
		t.Errorf("%d bytes left in the spool", p)
	}
	sp.Close()

	// The server starts again on the folder: nothing comes back.
	c, err = collector.New(collector.Options{Sink: collector.ClickHouseSink{Conn: conn}, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g := count("cred-gone"); g != 0 {
		t.Errorf("%d events of the erased credential came back", g)
	}
	if err := eraseCmd([]string{"--clickhouse", dsn, "--data-dir", dir, "--credential", "bad id"}); err == nil {
		t.Error("an invalid id was taken")
	}
}

// TestImportCommand: a file is imported once; the second run stores
// nothing; a bad file names its line.
func TestImportCommand(t *testing.T) {
	dsn, conn := chtest.New(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "history.csv")
	os.WriteFile(good, []byte("credential,type,time\nc-1,view,2024-01-02T03:04:05Z\nc-1,view,2024-01-02T03:04:05Z\n"), 0o600)
	for range 2 {
		if err := importCmd([]string{good, "--clickhouse", dsn}); err != nil {
			t.Fatal(err)
		}
	}
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM events WHERE source = 'import'").Scan(&n); err != nil || n != 2 {
		t.Errorf("%d imported events (%v), want 2", n, err)
	}
	bad := filepath.Join(dir, "bad.ndjson")
	os.WriteFile(bad, []byte(`{"credential": "c-2", "type": "view", "time": "2024-01-02T03:04:05Z"}`+"\n"+`{"credential": "c-2", "type": "viewed", "time": "2024-01-02T03:04:05Z"}`+"\n"), 0o600)
	err := importCmd([]string{bad, "--clickhouse", dsn})
	if err == nil || !strings.Contains(err.Error(), "line 2: type") {
		t.Errorf("bad file: %v", err)
	}
	if err := importCmd([]string{"--clickhouse", dsn}); err == nil {
		t.Error("no file was taken")
	}
}
