package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/lifecycle"
)

// importFile is n events over 40 credentials on three days of March 2024,
// and one credential's counters of a day (10 views, 2 LinkedIn shares).
func importFile(n int) (file string, events uint64) {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"credential": "imp-%d", "type": "view", "group": "g%d", "time": "2024-03-0%dT10:%02d:00Z"}`+"\n", i%40, i%3, 1+i%3, i%60)
	}
	b.WriteString(`{"credential": "imp-counters", "date": "2024-03-02", "stats": {"views": 10, "shares": {"linkedin": 2}}}` + "\n")
	return b.String(), uint64(n) + 12
}

// TestImportOnACluster imports through one server, as `credstats import
// --clickhouse` does (a plain connection): every event reaches its shard
// once, the shards' rollups count them, and importing the file again
// stores nothing more.
func TestImportOnACluster(t *testing.T) {
	db := newDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := store.Open(ctx, dsn(db, "ch1"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	file, total := importFile(600)
	im := lifecycle.Importer{Conn: conn, BatchSize: 100}
	sum, err := im.Import(ctx, strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events != total || sum.Stored != total || sum.Present != 0 {
		t.Fatalf("first import: %+v, want %d events stored", sum, total)
	}
	syncReplicas(t, db)
	check := func(when string) {
		t.Helper()
		var shards uint64
		for _, node := range []string{"ch2", "ch4"} { // the replicas the import did not reach
			n := count(t, open(t, db, node), "SELECT count() FROM events_local WHERE source = 'import'")
			if n == 0 {
				t.Errorf("%s: shard of %s holds no imported event", when, node)
			}
			shards += n
		}
		if shards != total {
			t.Errorf("%s: the shards hold %d imported events, want %d", when, shards, total)
		}
		reader := open(t, db, "ch3")
		if n := count(t, reader, "SELECT toUInt64(countMerge(events)) FROM credential_daily"); n != total {
			t.Errorf("%s: the rollups count %d events, want %d", when, n, total)
		}
		if n := count(t, reader, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name LIKE 'lifecycle%'"); n != 0 {
			t.Errorf("%s: %d staging tables left on ch3", when, n)
		}
	}
	check("after the import")

	again, err := im.Import(ctx, strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if again.Stored != 0 || again.Present != total {
		t.Errorf("second import: %+v, want all %d present and none stored", again, total)
	}
	syncReplicas(t, db)
	check("after importing again")
}

// TestRetentionOnACluster starts `credstats serve --cluster --retention
// 25mo` on a cluster whose shards hold raw events of 2023 and of the last
// days: its keeper drops the old months on every replica of every shard,
// keeps the recent ones, says in /metrics from when raw events are kept,
// and the rollups keep counting the dropped months.
func TestRetentionOnACluster(t *testing.T) {
	db := newDatabase(t)
	ctx := context.Background()
	evs := events(6_000, 200, 3)
	var old uint64
	recent := evs[1].Time // evs[0] becomes an old one
	for i := range evs {
		if i%3 != 0 {
			if evs[i].Time.Before(recent) {
				recent = evs[i].Time
			}
			continue
		}
		evs[i].Time = time.Date(2023, time.Month(1+i%2), 15, 12, 0, i%60, 0, time.UTC)
		old++
	}
	sink := collector.ClickHouseSink{Conn: open(t, db, "ch1")}
	if err := sink.Write(ctx, collector.Batch{ID: 1, Events: evs}); err != nil {
		t.Fatal(err)
	}
	syncReplicas(t, db)
	shards := lifecycle.Shards{Conn: open(t, db, "ch3"), DSN: dsn(db, "ch3"), Cluster: clusterName}
	if since, err := shards.RawSince(ctx); err != nil || !since.Equal(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("RawSince before the retention: %v, %v; want 2023-01-01", since, err)
	}
	for _, node := range nodes {
		if n := count(t, open(t, db, node), "SELECT count() FROM events_local WHERE time < '2024-01-01 00:00:00'"); n == 0 {
			t.Fatalf("%s holds none of the 2023 events before the retention", node)
		}
	}

	dir := t.TempDir()
	srv := &collectorProc{t: t, listen: upstreamA, logPath: filepath.Join(dir, "serve.log"), args: []string{
		"serve", "--listen", upstreamA, "--clickhouse", dsn(db, "ch1", "ch3"), "--cluster", clusterName,
		"--data-dir", filepath.Join(dir, "data"), "--migrate=false", "--retention", "25mo",
	}}
	srv.start()
	t.Cleanup(srv.stop)
	deadline := time.Now().Add(time.Minute)
	for _, node := range nodes {
		conn := open(t, db, node)
		for count(t, conn, "SELECT count() FROM events_local WHERE time < '2024-01-01 00:00:00'") != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s still holds 2023 events a minute after the server started; its log:\n%s", node, srv.log())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	reader := open(t, db, "ch2")
	if n := count(t, reader, "SELECT count() FROM events"); n != uint64(len(evs))-old {
		t.Errorf("%d raw events left on the shards, want the %d recent ones", n, uint64(len(evs))-old)
	}
	if n := count(t, reader, "SELECT toUInt64(countMerge(events)) FROM credential_daily"); n != uint64(len(evs)) {
		t.Errorf("the rollups count %d events after the retention, want all %d", n, len(evs))
	}
	want := float64(time.Date(recent.Year(), recent.Month(), 1, 0, 0, 0, 0, time.UTC).Unix())
	for ; ; time.Sleep(200 * time.Millisecond) {
		got := scrape(t, "http://"+upstreamA+"/metrics", "credstats_raw_events_since_timestamp_seconds")
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("credstats_raw_events_since_timestamp_seconds = %v, want %v (%s)", got, want, recent.Format("2006-01"))
		}
	}
	if since, err := shards.RawSince(ctx); err != nil || float64(since.Unix()) != want {
		t.Errorf("RawSince after the retention: %v, %v", since, err)
	}
}

// scrape reads one unlabelled series from a /metrics page; -1 when absent.
func scrape(t testing.TB, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(body)) {
		if value, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return -1
}

// TestEraseOnACluster erases a credential through one server, as the
// operator route of `serve --cluster` does: no row names it on any replica
// of any shard afterwards, the site-wide and per-group rollups of its shard
// are counted again without it, and erasing again removes nothing.
func TestEraseOnACluster(t *testing.T) {
	db := newDatabase(t)
	ctx := context.Background()
	evs := events(3_000, 30, 4)
	var views, gone, goneViews uint64
	for _, e := range evs {
		if e.Type == event.View {
			views++
		}
		if e.Credential == "cred-1" {
			gone++
			if e.Type == event.View {
				goneViews++
			}
		}
	}
	if gone == 0 {
		t.Fatal("no event of cred-1 to erase")
	}
	if err := (collector.ClickHouseSink{Conn: open(t, db, "ch1")}).Write(ctx, collector.Batch{ID: 1, Events: evs}); err != nil {
		t.Fatal(err)
	}
	syncReplicas(t, db)
	shards := lifecycle.Shards{Conn: open(t, db, "ch3"), DSN: dsn(db, "ch3"), Cluster: clusterName}
	rep, err := shards.Erase(ctx, "cred-1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed["events"] != gone || rep.Removed["credential_daily"] == 0 || len(rep.Recounted["totals_daily"]) == 0 {
		t.Errorf("report %+v: want %d events removed, credential_daily rows, totals_daily recounted", rep, gone)
	}
	syncReplicas(t, db)
	for _, node := range nodes {
		conn := open(t, db, node)
		tables := column(t, conn, "SELECT table FROM system.columns WHERE database = currentDatabase() AND name = 'credential' AND table LIKE '%_local'")
		if len(tables) < 5 {
			t.Fatalf("%s: only %v have a credential column", node, tables)
		}
		for _, table := range tables {
			if n := count(t, conn, "SELECT count() FROM "+table+" WHERE credential = 'cred-1'"); n != 0 {
				t.Errorf("%s: %d rows of cred-1 left in %s", node, n, table)
			}
		}
		if n := count(t, conn, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name LIKE 'lifecycle%'"); n != 0 {
			t.Errorf("%s: %d temporary tables left", node, n)
		}
	}
	for _, node := range []string{"ch2", "ch4"} { // through the Distributed tables, from the other replicas
		conn := open(t, db, node)
		for _, table := range []string{"totals_daily", "totals_15m", "group_daily", "group_15m", "traffic_daily", "traffic_15m"} {
			if n := count(t, conn, "SELECT sum(events) FROM "+table); n != uint64(len(evs))-gone {
				t.Errorf("%s: %s counts %d events after the erasure, want %d", node, table, n, uint64(len(evs))-gone)
			}
		}
		if n := count(t, conn, "SELECT sum(events) FROM views_daily"); n != views-goneViews {
			t.Errorf("%s: views_daily counts %d views after the erasure, want %d", node, n, views-goneViews)
		}
		if n := count(t, conn, "SELECT count() FROM events"); n != uint64(len(evs))-gone {
			t.Errorf("%s: %d raw events after the erasure, want %d", node, n, uint64(len(evs))-gone)
		}
	}

	again, err := shards.Erase(ctx, "cred-1")
	if err != nil || again.Total() != 0 {
		t.Errorf("erasing again: %+v, %v; want nothing removed", again, err)
	}
	// Erase without the cluster's name refuses, and says what to use.
	if _, err := lifecycle.Erase(ctx, open(t, db, "ch1"), "cred-2"); !errors.Is(err, lifecycle.ErrCluster) {
		t.Errorf("Erase on a cluster's database: %v, want lifecycle.ErrCluster", err)
	}
	// The command erases on the shards with --cluster.
	reader := open(t, db, "ch2")
	of2 := count(t, reader, "SELECT count() FROM events WHERE credential = 'cred-2'")
	out, err := exec.Command(binary(t), "erase", "--credential", "cred-2", "--clickhouse", dsn(db, "ch1"), "--cluster", clusterName,
		"--data-dir", t.TempDir(), "--json").Output()
	if err != nil {
		t.Fatalf("credstats erase --cluster: %v\n%s", err, out)
	}
	var cmdRep lifecycle.EraseReport
	if err := json.Unmarshal(out, &cmdRep); err != nil || of2 == 0 || cmdRep.Removed["events"] != of2 {
		t.Errorf("credstats erase --cluster answered %s (%v); want %d events removed", out, err, of2)
	}
	syncReplicas(t, db)
	if n := count(t, reader, "SELECT count() FROM events WHERE credential = 'cred-2'"); n != 0 {
		t.Errorf("%d events of cred-2 after credstats erase --cluster", n)
	}
}
