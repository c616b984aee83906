package query

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Engine runs queries over the rollup tables. Its connection should be
// read-only and time-limited (store.Options): every name in the SQL comes
// from the fixed tables of the catalog and every value is a bound
// parameter, but the server is the last word.
type Engine struct {
	conn          driver.Conn
	now           func() time.Time
	exportTimeout time.Duration
}

// DefaultTimeout bounds one stats query unless the operator says otherwise
// (--query-timeout): the API, the dashboard's sections and the server all
// take it from here.
const DefaultTimeout = 10 * time.Second

// defaultExportTimeout bounds an export, from its query to its last row
// written.
const defaultExportTimeout = 5 * time.Minute

// NewEngine returns an Engine; now is the clock that presets such as "7d"
// count from (nil: time.Now). Its exports have a time limit of five
// minutes (WithExportTimeout sets another).
func NewEngine(conn driver.Conn, now func() time.Time) *Engine {
	if now == nil {
		now = time.Now
	}
	return &Engine{conn: conn, now: now, exportTimeout: defaultExportTimeout}
}

// WithExportTimeout returns an engine like e whose exports have the time
// limit d; zero or less keeps the default, five minutes.
func (e *Engine) WithExportTimeout(d time.Duration) *Engine {
	ne := *e
	if d <= 0 {
		d = defaultExportTimeout
	}
	ne.exportTimeout = d
	return &ne
}

// Run answers a query: a page of rows and how many there are in all.
func (e *Engine) Run(ctx context.Context, q Query) (Result, error) {
	return e.run(ctx, q, true)
}

// Page answers a query as Run does, but without counting the rows in all:
// for a query without a time dimension that count is a second query over
// the same rollup rows, as costly as the first, which a caller that shows
// only the page (the dashboard) can spare. Such a query's TotalRows is
// then zero.
func (e *Engine) Page(ctx context.Context, q Query) (Result, error) {
	return e.run(ctx, q, false)
}

func (e *Engine) run(ctx context.Context, q Query, withTotal bool) (Result, error) {
	p, err := e.plan(ctx, q, false)
	if err != nil {
		return Result{}, err
	}
	cur, total, err := e.open(ctx, p, withTotal)
	if err != nil {
		return Result{}, err
	}
	defer cur.Close()
	res := Result{Results: []Row{}, TotalRows: total, Query: p.q}
	for cur.Next() {
		res.Results = append(res.Results, cur.Row())
	}
	if err := cur.Err(); err != nil {
		return Result{}, err
	}
	return res, nil
}

// Export runs a query for streaming: its rows are read as the cursor
// moves. Without a limit it has every row. Errors in the query come back
// here, before the first row. The export has its own time limit, counted
// from now; Close ends it.
func (e *Engine) Export(ctx context.Context, q Query) (*Cursor, error) {
	ctx, cancel := context.WithTimeout(ctx, e.exportTimeout)
	p, err := e.plan(ctx, q, true)
	if err != nil {
		cancel()
		return nil, err
	}
	cur, _, err := e.open(ctx, p, false)
	if err != nil {
		cancel()
		return nil, err
	}
	cur.cancel = cancel
	return cur, nil
}

// open starts the query of a plan; withTotal also counts its rows (a time
// series knows them without asking).
func (e *Engine) open(ctx context.Context, p *plan, withTotal bool) (*Cursor, int, error) {
	if p.timeAt >= 0 {
		return e.series(ctx, p)
	}
	var total int
	var countErr error
	var wg sync.WaitGroup
	if withTotal {
		wg.Go(func() { total, countErr = e.count(ctx, p) })
	}
	cur, err := e.grouped(ctx, p)
	wg.Wait()
	if err == nil && countErr != nil {
		cur.Close()
		err = countErr
	}
	return cur, total, err
}

// count is how many rows a query without a time dimension has.
func (e *Engine) count(ctx context.Context, p *plan) (int, error) {
	if len(p.q.Dimensions) == 0 {
		return 1, nil
	}
	b := &builder{}
	b.add("SELECT count() FROM (SELECT ")
	aliases := p.selectDims(b, false)
	p.selectMetrics(b, false)
	p.from(b)
	p.groupBy(b, aliases)
	b.add(")")
	var n uint64
	if err := e.conn.QueryRow(ctx, b.sb.String(), b.args...).Scan(&n); err != nil {
		return 0, queryError(err)
	}
	return int(n), nil
}

// grouped runs a query without a time dimension, sorted, limited and
// offset by ClickHouse.
func (e *Engine) grouped(ctx context.Context, p *plan) (*Cursor, error) {
	limit, offset := p.q.Limit, p.q.Offset
	b := &builder{}
	b.add("SELECT ")
	aliases := p.selectDims(b, false)
	p.selectMetrics(b, len(aliases) == 0)
	p.from(b)
	if len(aliases) > 0 {
		p.groupBy(b, aliases)
		var order []string
		for _, k := range p.order {
			order = append(order, k.sql())
		}
		b.add(" ORDER BY " + strings.Join(order, ", "))
		if limit > 0 {
			b.add(" LIMIT ? OFFSET ?", limit, offset)
		}
	}
	rows, err := e.conn.Query(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, queryError(err)
	}
	sc := newScanner(p)
	cur := newCursor(ctx, p.q, func() (Row, bool, error) {
		if !rows.Next() {
			return Row{}, false, rows.Err()
		}
		r, err := sc.scan(rows)
		return r, err == nil, err
	}, rows.Close)
	if limit == 0 || len(aliases) == 0 {
		// ClickHouse has no OFFSET without LIMIT, and totals are one row
		// whatever the SQL says: those are windowed here.
		cur.window(limit, offset)
	}
	return cur, nil
}

// scanner reads result rows into Rows, turning bucket keys into labels.
type scanner struct {
	p    *plan
	dest []any
	dims []string
	key  int64
	ms   []float64
}

// newScanner reads the columns the plan selects: the dimensions in the
// query's order (a time dimension as its bucket key), then the metrics.
func newScanner(p *plan) *scanner {
	s := &scanner{p: p, dims: make([]string, len(p.q.Dimensions)), ms: make([]float64, len(p.q.Metrics))}
	for i := range s.dims {
		if i == p.timeAt {
			s.dest = append(s.dest, &s.key)
		} else {
			s.dest = append(s.dest, &s.dims[i])
		}
	}
	for i := range s.ms {
		s.dest = append(s.dest, &s.ms[i])
	}
	return s
}

func (s *scanner) scan(rows rowSource) (Row, error) {
	if err := rows.Scan(s.dest...); err != nil {
		return Row{}, fmt.Errorf("cannot read a result row: %w", err)
	}
	r := Row{Dimensions: slices.Clone(s.dims), Metrics: slices.Clone(s.ms)}
	if s.p.timeAt >= 0 {
		r.Dimensions[s.p.timeAt] = label(s.p.grain, s.key, s.p.loc)
	}
	return r, nil
}
