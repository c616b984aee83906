package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/credstats/credstats/cmd/credstats/config"
	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/lifecycle"
)

const importUsage = `Usage: credstats import [--clickhouse ADDR] FILE

FILE is NDJSON or CSV (with a header row) of events, each with the event
fields (credential, type, network, actor, group, url, referrer) and its time
in RFC 3339; or NDJSON of a credential's counters of one day in the
badges.ninja stats shape:

  {"credential": "ID", "date": "2024-05-01", "stats": {"views": 120, "shares": {"linkedin": 3, "copy": 2}, "downloads": 4, "linkedin_adds": 1}}

Events are stored with the source "import" and no visitor, so unique
viewers do not count them. Every row is checked first: a file with a bad
row stores nothing. Importing a file again stores only what is new.`

// importCmd stores history from a file.
func importCmd(args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	ch := clickhouseFlag(fs)
	timeout := fs.Duration("timeout", 2*time.Hour, "how long the import may take")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	var file string
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	if file == "" {
		return errors.New(importUsage)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	ctx, conn, done, err := openFor(*ch, store.Options{}, *timeout)
	if err != nil {
		return err
	}
	defer done()
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	sum, err := lifecycle.Importer{Conn: conn, Pass: func(pass string, r io.Reader) io.Reader {
		if !tty {
			return r
		}
		bar := progressbar.DefaultBytes(st.Size(), pass)
		return io.TeeReader(r, bar)
	}}.Import(ctx, f)
	if tty {
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(sum)
	}
	printImport(os.Stdout, sum)
	return nil
}

func printImport(w io.Writer, sum lifecycle.Summary) {
	if sum.Events == 0 {
		fmt.Fprintf(w, "%d rows, no events: nothing to store.\n", sum.Rows)
		return
	}
	fmt.Fprintf(w, "%d rows (%d of counters) stand for %d events from %s to %s.\n",
		sum.Rows, sum.CounterRows, sum.Events, sum.From.Format(time.DateOnly), sum.To.Format(time.DateOnly))
	fmt.Fprintf(w, "Stored %d new events; %d were stored by an earlier import.\n", sum.Stored, sum.Present)
	if sum.CounterRows > 0 {
		fmt.Fprintln(w, "Counters have no visitors: unique viewers do not count them.")
	}
}
