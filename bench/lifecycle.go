package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/lifecycle"
)

// lifecycle measures `credstats import` of an NDJSON file against
// inserting the same events in the collector's batches, and an erasure
// against one bare ALTER TABLE events DELETE of the same credential.
func (b *bench) lifecycle(dir string) error {
	n := 1_000_000
	if b.quick {
		n = 100_000
	}
	if err := b.importRate(dir, n); err != nil {
		return err
	}
	for _, size := range b.sizes {
		if size > 10_000_000 {
			continue
		}
		if size == 10_000_000 && !b.erase10m {
			continue
		}
		if err := b.eraseTime(size); err != nil {
			return err
		}
	}
	return nil
}

func freshDB(b *bench, name string) (string, error) {
	conn, err := store.Open(context.Background(), fmt.Sprintf("clickhouse://127.0.0.1:%d/default", b.chPort), store.Options{})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name); err != nil {
		return "", err
	}
	dsn := fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", b.chPort, name)
	return dsn, run(b.bin, "migrate", "--clickhouse", dsn)
}

func (b *bench) importRate(dir string, n int) error {
	step("import: %d events from NDJSON, and the same in the collector's batches", n)
	events := make([]event.Event, n)
	start := time.Now().UTC().Truncate(time.Second).AddDate(-1, 0, 0)
	types := []event.Type{event.View, event.View, event.View, event.Share, event.Download, event.LinkedInAdd}
	for i := range events {
		e := event.Event{ID: uuid.New(), Time: start.Add(time.Duration(i%(365*86400)) * time.Second),
			Credential: fmt.Sprintf("cred-%d", i%1000), Group: fmt.Sprintf("program-%d", i%20),
			Type: types[i%len(types)], Actor: event.Guest, Source: event.Import}
		if e.Type == event.Share {
			e.Network = event.LinkedIn
		}
		events[i] = e
	}
	file := filepath.Join(dir, "import.ndjson")
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, e := range events {
		enc.Encode(map[string]string{"credential": e.Credential, "group": e.Group, "type": e.Type.String(),
			"network": e.Network.String(), "time": e.Time.Format(time.RFC3339)})
	}
	if err := w.Flush(); err != nil {
		return err
	}
	f.Close()

	dsn, err := freshDB(b, "bench_import")
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := run(b.bin, "import", file, "--clickhouse", dsn); err != nil {
		return err
	}
	took := time.Since(t0)

	baseDSN, err := freshDB(b, "bench_import_base")
	if err != nil {
		return err
	}
	conn, err := store.Open(context.Background(), baseDSN, store.Options{})
	if err != nil {
		return err
	}
	defer conn.Close()
	sink := collector.ClickHouseSink{Conn: conn}
	t0 = time.Now()
	for off := 0; off < n; off += 50_000 {
		if err := sink.Write(context.Background(), collector.Batch{ID: uint64(off), Events: events[off:min(off+50_000, n)]}); err != nil {
			return err
		}
	}
	base := time.Since(t0)
	b.add(Row{Section: "lifecycle", Metric: fmt.Sprintf("import, %dk events NDJSON into ClickHouse", n/1000), Value: float64(n) / took.Seconds(),
		Unit: "events/s", Baseline: float64(n) / base.Seconds()}, true)
	return nil
}

// eraseCredential is a credential of the seeded long tail: a few dozen
// events at 10M.
const eraseCredential = "cred-54321"

// eraseTime erases a credential from the seeded query database and puts
// its events back, so the database stays as seeded.
func (b *bench) eraseTime(n int) error {
	ctx := context.Background()
	db := fmt.Sprintf("bench_q%dm", n/1_000_000)
	step("erasure at %dM events", n/1_000_000)
	conn, err := store.Open(ctx, fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", b.chPort, db), store.Options{})
	if err != nil {
		return err
	}
	defer conn.Close()
	// The copy lives in another database: the erasure clears every table
	// of its own database that names the credential.
	keep := "default.bench_erased_" + db
	for _, sql := range []string{"DROP TABLE IF EXISTS " + keep, "CREATE TABLE " + keep + " AS events",
		"INSERT INTO " + keep + " SELECT * FROM events WHERE credential = '" + eraseCredential + "'"} {
		if err := conn.Exec(ctx, sql); err != nil {
			return err
		}
	}
	restore := func() error {
		return conn.Exec(ctx, "INSERT INTO events SELECT * FROM "+keep)
	}
	t0 := time.Now()
	if err := conn.Exec(ctx, "ALTER TABLE events DELETE WHERE credential = ?", eraseCredential); err != nil {
		return err
	}
	if err := lifecycle.WaitMutations(ctx, conn, "events"); err != nil {
		return err
	}
	bare := time.Since(t0)
	// The events come back (and their rollup rows twice, which the
	// erasure removes): the erasure then has all it would find.
	if err := restore(); err != nil {
		return err
	}
	t0 = time.Now()
	rep, err := lifecycle.Erase(ctx, conn, eraseCredential)
	if err != nil {
		return err
	}
	took := time.Since(t0)
	if err := restore(); err != nil {
		return err
	}
	conn.Exec(ctx, "DROP TABLE "+keep)
	b.add(Row{Section: "lifecycle", Metric: fmt.Sprintf("erasure of one credential (%d events), %dM events", rep.Removed["events"], n/1_000_000),
		Value: took.Seconds(), Unit: "s", Baseline: bare.Seconds()}, true)
	return nil
}
