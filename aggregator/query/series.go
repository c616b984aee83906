package query

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

const (
	// maxCombos bounds the distinct values of the other dimensions of a
	// time series, each of which gets every step.
	maxCombos = 100_000
	// maxSorted bounds a time series sorted in memory (by a metric, or
	// time descending): rows times buckets.
	maxSorted = 200_000
)

// series runs a time series: every step of the range for every
// combination of the other dimensions' values that has events, empty
// steps as zeros. In its default order it is filled in as the rows stream
// by; in any other it is filled and sorted in memory, bounded by
// maxSorted.
func (e *Engine) series(ctx context.Context, p *plan) (*Cursor, int, error) {
	combos, err := e.combos(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	total := len(combos) * len(p.buckets)
	switch {
	case p.q.Offset >= total:
		return emptyCursor(ctx, p.q), total, nil
	case !p.streamable && total > maxSorted:
		return nil, 0, invalid("order_by", "sorting a time series of %d rows (more than %d) other than by time ascending; add filters, or sort by time", total, maxSorted)
	}
	cur, err := e.fill(ctx, p, combos)
	if err != nil {
		return nil, 0, err
	}
	if !p.streamable {
		if cur, total, err = sortRows(ctx, p, cur); err != nil {
			return nil, 0, err
		}
	}
	return cur.window(p.q.Limit, p.q.Offset), total, nil
}

// fill reads a time series in its default order (time, then the other
// dimensions ascending), the empty steps filled in between the rows.
// A daily series of views is read row by row (see rowwise.go).
func (e *Engine) fill(ctx context.Context, p *plan, combos [][]string) (*Cursor, error) {
	var rows rowSource
	var closeRows func() error
	if p.rowwise() {
		mem, err := e.rowwiseSeries(ctx, p)
		if err != nil {
			return nil, err
		}
		rows = mem
	} else {
		b := p.seriesSQL(nil)
		driverRows, err := e.conn.Query(ctx, b.sb.String(), b.args...)
		if err != nil {
			return nil, queryError(err)
		}
		rows, closeRows = driverRows, driverRows.Close
	}
	f := &filler{p: p, rows: rows, sc: newScanner(p), combos: combos, index: map[string]int{}}
	for i, c := range combos {
		f.index[comboKey(c)] = i
	}
	return newCursor(ctx, p.q, f.next, closeRows), nil
}

// seriesSQL is a time series' query in its default order; and, if not
// nil, writes more conditions after the plan's own.
func (p *plan) seriesSQL(and func(*builder)) *builder {
	b := &builder{}
	b.add("SELECT ")
	aliases := p.selectDims(b, false)
	p.selectMetrics(b, false)
	p.from(b)
	if and != nil {
		and(b)
	}
	order := []string{fmt.Sprintf("d%d", p.timeAt)}
	for _, a := range aliases {
		if a != order[0] {
			order = append(order, a)
		}
	}
	p.groupBy(b, aliases)
	b.add(" ORDER BY " + strings.Join(order, ", "))
	return b
}

// combos lists the distinct values of a time series' other dimensions, in
// ascending order; a series with no other dimension has one, empty.
func (e *Engine) combos(ctx context.Context, p *plan) ([][]string, error) {
	if len(p.q.Dimensions) == 1 {
		return [][]string{{}}, nil
	}
	b := &builder{}
	b.add("SELECT ")
	aliases := p.selectDims(b, true)
	p.selectMetrics(b, false)
	p.from(b)
	p.groupBy(b, aliases)
	b.add(" ORDER BY "+strings.Join(aliases, ", ")+" LIMIT ?", maxCombos+1)
	rows, err := e.conn.Query(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, queryError(err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		c := make([]string, len(aliases))
		dest := make([]any, len(c), len(c)+len(p.q.Metrics))
		for i := range c {
			dest[i] = &c[i]
		}
		for range p.q.Metrics {
			dest = append(dest, new(float64))
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("cannot read a result row: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, queryError(err)
	}
	if len(out) > maxCombos {
		return nil, invalid("dimensions", "a time series with more than %d combinations of the other dimensions; add filters or drop a dimension", maxCombos)
	}
	return out, nil
}

// rowSource is what a filler reads rows from: ClickHouse's driver.Rows,
// or rows already read.
type rowSource interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

func comboKey(values []string) string { return strings.Join(values, "\x00") }

// filler walks the grid of buckets times combinations in order and merges
// in the rows ClickHouse sends in the same order.
type filler struct {
	p       *plan
	rows    rowSource
	sc      *scanner
	combos  [][]string
	index   map[string]int
	bi, ci  int
	pending *Row
	pkey    int64
	pcombo  int
	done    bool
}

func (f *filler) next() (Row, bool, error) {
	if f.pending == nil && !f.done {
		if f.rows.Next() {
			r, err := f.sc.scan(f.rows)
			if err != nil {
				return Row{}, false, err
			}
			f.pending, f.pkey = &r, f.sc.key
			c, ok := f.index[comboKey(otherDims(r.Dimensions, f.p.timeAt))]
			f.pcombo = c
			if !ok {
				f.pcombo = -1
			}
		} else {
			if err := f.rows.Err(); err != nil {
				return Row{}, false, queryError(err)
			}
			f.done = true
		}
	}
	if f.bi >= len(f.p.buckets) {
		if f.pending != nil {
			r := *f.pending
			f.pending = nil
			return r, true, nil
		}
		return Row{}, false, nil
	}
	b := f.p.buckets[f.bi]
	if f.pending != nil {
		// A row off the grid (a step the zone database of ClickHouse and Go
		// disagree on, or a value that came in after the combinations were
		// read) is passed on where it falls.
		off := f.pcombo < 0 || f.pkey < b.key || (f.pkey == b.key && f.pcombo < f.ci)
		if off || (f.pkey == b.key && f.pcombo == f.ci) {
			r := *f.pending
			f.pending = nil
			if !off {
				f.advance()
			}
			return r, true, nil
		}
	}
	r := Row{Dimensions: make([]string, len(f.p.q.Dimensions)), Metrics: make([]float64, len(f.p.q.Metrics))}
	combo := f.combos[f.ci]
	di := 0
	for i := range r.Dimensions {
		if i == f.p.timeAt {
			r.Dimensions[i] = b.label
		} else {
			r.Dimensions[i] = combo[di]
			di++
		}
	}
	f.advance()
	return r, true, nil
}

func (f *filler) advance() {
	if f.ci++; f.ci == len(f.combos) {
		f.ci = 0
		f.bi++
	}
}

func otherDims(dims []string, timeAt int) []string {
	return slices.Concat(dims[:timeAt], dims[timeAt+1:])
}

// sortRows reads every row of cur, closes it, and returns them sorted by
// the query's order, and how many there are.
func sortRows(ctx context.Context, p *plan, cur *Cursor) (*Cursor, int, error) {
	defer cur.Close()
	var all []Row
	for cur.Next() {
		all = append(all, cur.Row())
	}
	if err := cur.Err(); err != nil {
		return nil, 0, err
	}
	slices.SortStableFunc(all, func(a, b Row) int {
		for _, k := range p.order {
			var c int
			switch {
			case k.metric:
				c = cmp.Compare(a.Metrics[k.i], b.Metrics[k.i])
			case k.i == p.timeAt:
				c = cmp.Compare(bucketIndex(p, a.Dimensions[k.i]), bucketIndex(p, b.Dimensions[k.i]))
			default:
				c = strings.Compare(a.Dimensions[k.i], b.Dimensions[k.i])
			}
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	i := 0
	return newCursor(ctx, p.q, func() (Row, bool, error) {
		if i >= len(all) {
			return Row{}, false, nil
		}
		i++
		return all[i-1], true, nil
	}, nil), len(all), nil
}

// bucketIndex orders labels by time: hour labels carry their offset, so
// they are not in order as strings when clocks go back.
func bucketIndex(p *plan, l string) int64 {
	if p.grain == hourly {
		if t, err := time.Parse(time.RFC3339, l); err == nil {
			return t.Unix()
		}
	}
	if t, err := time.Parse(time.DateOnly, l); err == nil {
		return t.Unix()
	}
	return 0
}
