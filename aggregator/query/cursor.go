package query

import (
	"context"
	"time"
)

// Cursor is a query's rows, read one at a time; Close it when done.
type Cursor struct {
	query  Query
	ctx    context.Context
	cancel context.CancelFunc // nil unless the cursor owns ctx
	next   func() (Row, bool, error)
	close  func() error
	row    Row
	err    error
	ended  bool
}

// checkEvery is how many rows a cursor reads between looks at its
// context: often enough to stop within milliseconds, rarely enough to
// cost nothing.
const checkEvery = 4096

// newCursor reads rows from next, stopping with ctx's error once ctx
// ends: rows made up in Go (the empty steps of a time series, a sorted
// series, an offset skipped) do no I/O that would notice. close may be
// nil.
func newCursor(ctx context.Context, q Query, next func() (Row, bool, error), close func() error) *Cursor {
	if close == nil {
		close = func() error { return nil }
	}
	c := &Cursor{query: q, ctx: ctx, close: close}
	n := 0
	c.next = func() (Row, bool, error) {
		if n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return Row{}, false, err
			}
		}
		n++
		return next()
	}
	return c
}

func emptyCursor(ctx context.Context, q Query) *Cursor {
	return newCursor(ctx, q, func() (Row, bool, error) { return Row{}, false, nil }, nil)
}

// Query is the query as it runs, with its defaults filled in.
func (c *Cursor) Query() Query { return c.query }

// Next moves to the next row; false at the end or on an error.
func (c *Cursor) Next() bool {
	if c.ended {
		return false
	}
	r, ok, err := c.next()
	if err != nil || !ok {
		c.err, c.ended = err, true
		return false
	}
	c.row = r
	return true
}

// Row is the current row.
func (c *Cursor) Row() Row { return c.row }

// Err is the error that ended the rows, if any.
func (c *Cursor) Err() error { return c.err }

// Close releases the rows; the query stops on the server.
func (c *Cursor) Close() error {
	if c.cancel != nil {
		defer c.cancel()
	}
	return c.close()
}

// Deadline is when the rows' time limit ends; ok is false without one.
// Whoever writes an export's rows out gives itself the same limit.
func (c *Cursor) Deadline() (deadline time.Time, ok bool) { return c.ctx.Deadline() }

// Stop ends an export from another goroutine than the one reading it, as
// when its client has gone: the query stops on the server and Next
// fails. The reader still calls Close. A cursor that does not own its
// context (one made for Run) is not stopped.
func (c *Cursor) Stop() {
	if c.cancel != nil {
		c.cancel()
	}
}

// window skips offset rows and stops after limit (0: no limit).
func (c *Cursor) window(limit, offset int) *Cursor {
	inner := c.next
	skipped, given := 0, 0
	c.next = func() (Row, bool, error) {
		for ; skipped < offset; skipped++ {
			if _, ok, err := inner(); !ok || err != nil {
				return Row{}, false, err
			}
		}
		if limit > 0 && given >= limit {
			return Row{}, false, nil
		}
		r, ok, err := inner()
		if ok {
			given++
		}
		return r, ok, err
	}
	return c
}
