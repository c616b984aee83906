package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// revocable is what `credstats keys` and `credstats links` share: the
// list subcommand, a table of every key or link, and `revoke ID`.
type revocable[T any] struct {
	noun   string // "key" or "link"
	list   func(context.Context) ([]T, error)
	revoke func(context.Context, string) error
	head   []string         // the table's columns
	row    func(T) []string // one key's or link's cells
	// revoked ends the line that confirms a revocation, after its id.
	revoked string
}

// revokeID takes the ID off `revoke ID [flags]`, so that the flags after
// it parse.
func revokeID(sub string, args []string) (id string, rest []string) {
	if sub == "revoke" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

// run runs `list` (table to stdout) or `revoke` (confirmation to stderr).
func (r revocable[T]) run(ctx context.Context, sub, id string, stdout, stderr io.Writer) error {
	if sub == "revoke" {
		if id == "" {
			return fmt.Errorf("which %[1]s? credstats %[1]ss revoke ID (see credstats %[1]ss list)", r.noun)
		}
		if err := r.revoke(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "Revoked %s %s%s\n", r.noun, id, r.revoked)
		return nil
	}
	list, err := r.list(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(r.head, "\t"))
	for _, x := range list {
		fmt.Fprintln(w, strings.Join(r.row(x), "\t"))
	}
	return w.Flush()
}

// status is the STATUS cell of a key or link.
func status(revoked bool, at time.Time) string {
	if revoked {
		return "revoked " + at.UTC().Format(time.DateTime)
	}
	return "active"
}

// created is the CREATED cell.
func created(at time.Time) string { return at.UTC().Format(time.DateTime) }
