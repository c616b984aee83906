package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/cmd/credstats/config"
	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/spool"
	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/lifecycle"
)

// eraseCmd removes every trace of one credential.
func eraseCmd(args []string) error {
	fs := flag.NewFlagSet("erase", flag.ContinueOnError)
	ch := clickhouseFlag(fs)
	cluster := fs.String("cluster", "", "the ClickHouse cluster of a database migrated with --cluster: erase on one replica of each shard (empty: one server)")
	dataDir := fs.String("data-dir", "data", "the server's data folder: events of the credential still in its spool are written first, then erased with the rest")
	credential := fs.String("credential", "", "the credential to erase")
	timeout := fs.Duration("timeout", 30*time.Minute, "how long the erasure may take")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	if !event.ValidID(*credential) {
		return errors.New("--credential: give the id of the credential to erase (1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-')")
	}
	if *cluster != "" && !store.ValidClusterName(*cluster) {
		return fmt.Errorf("--cluster %q: use letters, digits and '_'", *cluster)
	}
	ctx, conn, done, err := openFor(*ch, store.Options{Cluster: *cluster != ""}, *timeout)
	if err != nil {
		return err
	}
	defer done()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	written, err := drainSpool(ctx, *dataDir, conn, log)
	if err != nil {
		return err
	}
	var rep lifecycle.EraseReport
	if *cluster != "" {
		rep, err = lifecycle.Shards{Conn: conn, DSN: *ch, Cluster: *cluster}.Erase(ctx, *credential)
	} else {
		rep, err = lifecycle.Erase(ctx, conn, *credential)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(rep)
	}
	printErasure(os.Stdout, rep, written)
	return nil
}

// openFor connects to ClickHouse for a command that may take up to
// timeout; done closes the connection.
func openFor(dsn string, o store.Options, timeout time.Duration) (context.Context, driver.Conn, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	conn, err := store.Open(ctx, dsn, o)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, conn, func() { conn.Close(); cancel() }, nil
}

// drainSpool writes what the data folder's spool holds to ClickHouse, as
// a restart would, so that the erasure's mutations remove the credential's
// unwritten events with the others and no later start writes them again.
// It returns the bytes of records that were waiting. A running server
// holds its spool: erase through its operator route then.
func drainSpool(ctx context.Context, dataDir string, conn driver.Conn, log *slog.Logger) (int64, error) {
	dir := filepath.Join(dataDir, "spool")
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	c, err := collector.New(collector.Options{Sink: collector.ClickHouseSink{Conn: conn}, DataDir: dataDir, Logger: log})
	if err != nil {
		return 0, fmt.Errorf("cannot open the spool in %s (a running server holds it: use its route POST /api/v1/admin/erase, or stop it first): %w", dataDir, err)
	}
	waiting := c.Backlog().SpoolBytes
	if err := c.Close(ctx); err != nil {
		return waiting, fmt.Errorf("cannot write the spool to ClickHouse: %w", err)
	}
	sp, err := spool.Open(spool.Options{Dir: dir})
	if err != nil {
		return waiting, err
	}
	left := sp.Stats().Pending
	sp.Close()
	if left > 0 {
		return waiting, fmt.Errorf("%d bytes of events are still in the spool: ClickHouse did not take them; nothing was erased", left)
	}
	return waiting, nil
}

func printErasure(w io.Writer, rep lifecycle.EraseReport, spoolBytes int64) {
	if spoolBytes > 0 {
		fmt.Fprintf(w, "Wrote %d bytes of events waiting in the spool to ClickHouse first.\n", spoolBytes)
	}
	if rep.Total() == 0 {
		fmt.Fprintf(w, "Nothing names %s: nothing to erase.\n", rep.Credential)
		return
	}
	fmt.Fprintf(w, "Erased %s: %d rows.\n", rep.Credential, rep.Total())
	for _, t := range slices.Sorted(maps.Keys(rep.Removed)) {
		if n := rep.Removed[t]; n > 0 {
			fmt.Fprintf(w, "  %-24s %d rows\n", t, n)
		}
	}
	for _, t := range slices.Sorted(maps.Keys(rep.Recounted)) {
		fmt.Fprintf(w, "  %-24s recounted without it: months %v\n", t, rep.Recounted[t])
	}
	if len(rep.NotRecounted) > 0 {
		fmt.Fprintf(w, "Months %v are past the retention (no raw events): their site-wide and group counts still include this credential's events, as numbers that no longer name it.\n", rep.NotRecounted)
	}
}
