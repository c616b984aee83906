package aggregator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/apierr"
)

// Engine runs queries over the rollup tables. Its connection should be
// read-only and time-limited (store.Options): every name in the SQL comes
// from the fixed tables below and every value is a bound parameter, but the
// server is the last word.
type Engine struct {
	conn          driver.Conn
	now           func() time.Time
	exportTimeout time.Duration
}

// NewEngine returns an Engine; now is the clock that presets such as "7d"
// count from (nil: time.Now). Its exports have defaultExportTimeout; New
// gives the API's engine Options.ExportTimeout.
func NewEngine(conn driver.Conn, now func() time.Time) *Engine {
	if now == nil {
		now = time.Now
	}
	return &Engine{conn: conn, now: now, exportTimeout: defaultExportTimeout}
}

const (
	// maxBuckets bounds the steps of one time series.
	maxBuckets = 100_000
	// maxCombos bounds the distinct values of the other dimensions of a
	// time series, each of which gets every step.
	maxCombos = 100_000
	// maxSorted bounds a time series sorted in memory (by a metric, or
	// time descending): rows times buckets.
	maxSorted = 200_000
	// defaultExportTimeout bounds an export, from its query to its last
	// row written.
	defaultExportTimeout = 5 * time.Minute
)

// rollup is a table the engine can read: its time column counts UTC days
// (day, a Date) or quarter hours (t, a DateTime).
type rollup struct {
	name  string
	daily bool
	has   []string // dimensions it can group and filter by
}

var (
	totalDims   = []string{"type", "network", "actor"}
	coreDims    = append([]string{"group"}, totalDims...)
	trafficDims = []string{"referrer", "country", "browser", "os", "device", "source"}
	withCred    = append([]string{"credential"}, coreDims...)
	// rollups in the order they are tried: smaller tables first.
	rollups = []rollup{
		{"totals_daily", true, totalDims},
		{"totals_15m", false, totalDims},
		{"group_daily", true, coreDims},
		{"group_15m", false, coreDims},
		{"credential_15m", false, withCred},
		{"traffic_daily", true, append(slices.Clone(coreDims), trafficDims...)},
		{"traffic_15m", false, append(slices.Clone(coreDims), trafficDims...)},
		{"credential_traffic_15m", false, append(slices.Clone(withCred), trafficDims...)},
	}
)

// columns maps a dimension to its column in every rollup.
var columns = map[string]string{
	"type": "type", "network": "network", "actor": "actor", "credential": "credential", "group": "group_id",
	"referrer": "referrer_host", "country": "country", "browser": "browser", "os": "os", "device": "device", "source": "source",
}

// metricSQL computes each metric over a rollup's events and visitors.
var metricSQL = map[string]string{
	"events":         "toFloat64(sum(events))",
	"views":          "toFloat64(sumIf(events, type = 'view'))",
	"unique_viewers": "toFloat64(uniqMergeIf(visitors, type = 'view'))",
	"shares":         "toFloat64(sumIf(events, type = 'share'))",
	"downloads":      "toFloat64(sumIf(events, type = 'download'))",
	"verifications":  "toFloat64(sumIf(events, type = 'verify'))",
	"linkedin_adds":  "toFloat64(sumIf(events, type = 'linkedin_add'))",
	"link_copies":    "toFloat64(sumIf(events, type = 'link_copy'))",
	"share_rate":     "if(sumIf(events, type = 'view') = 0, 0, sumIf(events, type = 'share') / sumIf(events, type = 'view'))",
}

// plan is a checked query with what is needed to run it.
type plan struct {
	q       Query
	loc     *time.Location
	span    span
	table   rollup
	timeAt  int // index of the time dimension in q.Dimensions, or -1
	grain   grain
	buckets []bucket
	// order is the effective sort: the query's, then the defaults.
	order []sortKey
	// streamable: a time series in its default order (time, then the other
	// dimensions ascending) is filled with empty steps as it is read.
	streamable bool
}

// sortKey is a column of the result: a dimension or a metric by index.
type sortKey struct {
	metric bool
	i      int
	desc   bool
}

func (e *Engine) plan(ctx context.Context, q Query, export bool) (*plan, error) {
	q, loc, err := normalize(q, export)
	if err != nil {
		return nil, err
	}
	p := &plan{q: q, loc: loc, timeAt: -1}
	p.span = resolve(q.DateRange, loc, e.now())
	for i, d := range q.Dimensions {
		if isTimeDimension(d) {
			p.timeAt, p.grain = i, grains[d]
		}
	}
	if p.timeAt >= 0 && p.span.from.IsZero() {
		if p.span.from, err = e.firstDay(ctx, loc); err != nil {
			return nil, err
		}
	}
	if p.table, err = chooseTable(q, loc, p.span, p.timeAt >= 0 && p.grain == hourly); err != nil {
		return nil, err
	}
	if p.timeAt >= 0 {
		p.buckets = buckets(p.grain, p.span, loc, maxBuckets)
		if len(p.buckets) > maxBuckets {
			return nil, invalid("dimensions", "%s over this date_range has more than %d steps; use a coarser time dimension or a shorter date_range", q.Dimensions[p.timeAt], maxBuckets)
		}
	}
	p.order, p.streamable = sortOrder(q, p.timeAt)
	if len(q.OrderBy) == 0 {
		p.q.OrderBy = defaultOrderBy(q, p.timeAt)
	}
	return p, nil
}

// firstDay is where "all" starts for a time series: the local day of the
// first UTC day with events.
func (e *Engine) firstDay(ctx context.Context, loc *time.Location) (time.Time, error) {
	var n uint64
	var day time.Time
	if err := e.conn.QueryRow(ctx, "SELECT count(), min(day) FROM totals_daily").Scan(&n, &day); err != nil {
		return time.Time{}, fmt.Errorf("cannot find the first day with events: %w", err)
	}
	t := e.now()
	if n > 0 {
		t = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	}
	y, m, d := t.In(loc).Date()
	return midnight(loc, y, m, d), nil
}

// chooseTable picks the first rollup that has every dimension the query
// groups or filters by and whose time steps fit its range and zone.
func chooseTable(q Query, loc *time.Location, sp span, hours bool) (rollup, error) {
	var need []string
	for _, d := range q.Dimensions {
		if !isTimeDimension(d) {
			need = append(need, d)
		}
	}
	for _, f := range q.Filters {
		need = append(need, f.Dimension)
	}
	dayOK := utcNames[loc.String()] && !hours && aligned(sp.from, 86400) && aligned(sp.to, 86400)
	quarterOK := aligned(sp.from, 900) && aligned(sp.to, 900)
	for _, r := range rollups {
		if (r.daily && !dayOK) || (!r.daily && !quarterOK) {
			continue
		}
		if !slices.ContainsFunc(need, func(d string) bool { return !slices.Contains(r.has, d) }) {
			return r, nil
		}
	}
	return rollup{}, invalid("timezone", "%s is not a whole number of quarter hours from UTC in this date_range", loc)
}

func defaultOrderBy(q Query, timeAt int) []Order {
	switch {
	case timeAt >= 0:
		return []Order{{Field: q.Dimensions[timeAt]}}
	case len(q.Dimensions) > 0:
		return []Order{{Field: q.Metrics[0], Desc: true}}
	}
	return []Order{}
}

// sortOrder resolves order_by to result columns and appends the defaults
// that make the order total: for a time series time then the other
// dimensions ascending, otherwise the first metric descending then the
// dimensions ascending.
func sortOrder(q Query, timeAt int) (keys []sortKey, streamable bool) {
	has := map[sortKey]bool{}
	add := func(k sortKey) {
		plain := sortKey{metric: k.metric, i: k.i}
		if !has[plain] {
			has[plain] = true
			keys = append(keys, k)
		}
	}
	for _, o := range q.OrderBy {
		if i := slices.Index(q.Dimensions, o.Field); i >= 0 {
			add(sortKey{i: i, desc: o.Desc})
		} else {
			add(sortKey{metric: true, i: slices.Index(q.Metrics, o.Field), desc: o.Desc})
		}
	}
	var defaults []sortKey
	if timeAt >= 0 {
		defaults = append(defaults, sortKey{i: timeAt})
	} else if len(q.Dimensions) > 0 {
		defaults = append(defaults, sortKey{metric: true, i: 0, desc: true})
	}
	for i := range q.Dimensions {
		if i != timeAt {
			defaults = append(defaults, sortKey{i: i})
		}
	}
	streamable = timeAt >= 0 && len(keys) <= len(defaults) && slices.Equal(keys, defaults[:len(keys)])
	for _, k := range defaults {
		add(k)
	}
	return keys, streamable
}

// builder writes SQL and its bound arguments side by side.
type builder struct {
	sb   strings.Builder
	args []any
}

func (b *builder) add(sql string, args ...any) *builder {
	b.sb.WriteString(sql)
	b.args = append(b.args, args...)
	return b
}

// selectDims writes the dimension columns, aliased d0, d1, ...; skipTime
// leaves the time dimension out.
func (p *plan) selectDims(b *builder, skipTime bool) (aliases []string) {
	for i, d := range p.q.Dimensions {
		if isTimeDimension(d) && skipTime {
			continue
		}
		if len(aliases) > 0 {
			b.add(", ")
		}
		alias := fmt.Sprintf("d%d", i)
		aliases = append(aliases, alias)
		if isTimeDimension(d) {
			p.timeExpr(b)
		} else {
			b.add("toString(" + columns[d] + ")")
		}
		b.add(" AS " + alias)
	}
	return aliases
}

// timeExpr buckets the rollup's time column in the query's zone; the
// answer is a bucket key (see bucket).
func (p *plan) timeExpr(b *builder) {
	if p.table.daily {
		// Only chosen for UTC, where the local day is the rollup's day.
		b.add([...]string{hourly: "", daily: "toInt64(day)", weekly: "toInt64(toMonday(day))", monthly: "toInt64(toStartOfMonth(day))"}[p.grain])
		return
	}
	tz := p.loc.String()
	switch p.grain {
	case hourly:
		b.add("toInt64(toStartOfHour(t, ?))", tz)
	case daily:
		b.add("toInt64(toDate(t, ?))", tz)
	case weekly:
		b.add("toInt64(toMonday(toDate(t, ?)))", tz)
	case monthly:
		b.add("toInt64(toStartOfMonth(toDate(t, ?)))", tz)
	}
}

// from writes FROM and WHERE: the range, then the filters, all ANDed.
func (p *plan) from(b *builder) {
	b.add(" FROM " + p.table.name + " WHERE ")
	if p.table.daily {
		if !p.span.from.IsZero() {
			b.add("day >= toDate(?) AND ", p.span.from.UTC().Format(time.DateOnly))
		}
		b.add("day < toDate(?)", p.span.to.UTC().Format(time.DateOnly))
	} else {
		if !p.span.from.IsZero() {
			b.add("t >= toDateTime(?) AND ", p.span.from.Unix())
		}
		b.add("t < toDateTime(?)", p.span.to.Unix())
	}
	for _, f := range p.q.Filters {
		col := columns[f.Dimension]
		b.add(" AND ")
		switch f.Op {
		case "is", "is_not":
			b.add(col)
			if f.Op == "is_not" {
				b.add(" NOT")
			}
			b.add(" IN (")
			for i, v := range f.Values {
				if i > 0 {
					b.add(", ")
				}
				b.add("?", v)
			}
			b.add(")")
		case "contains":
			b.add("(")
			for i, v := range f.Values {
				if i > 0 {
					b.add(" OR ")
				}
				b.add("position(toString("+col+"), ?) > 0", v)
			}
			b.add(")")
		}
	}
}

func (p *plan) selectMetrics(b *builder, first bool) {
	for i, m := range p.q.Metrics {
		if i > 0 || !first {
			b.add(", ")
		}
		b.add(fmt.Sprintf("%s AS m%d", metricSQL[m], i))
	}
}

func (k sortKey) sql() string {
	s := fmt.Sprintf("d%d", k.i)
	if k.metric {
		s = fmt.Sprintf("m%d", k.i)
	}
	if k.desc {
		return s + " DESC"
	}
	return s
}

// Run answers a query: a page of rows and how many there are in all.
func (e *Engine) Run(ctx context.Context, q Query) (Result, error) {
	p, err := e.plan(ctx, q, false)
	if err != nil {
		return Result{}, err
	}
	cur, total, err := e.open(ctx, p, true)
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
	switch {
	case p.streamable:
		return e.series(ctx, p, p.q.Limit, p.q.Offset)
	case p.timeAt >= 0:
		return e.sortedSeries(ctx, p, p.q.Limit, p.q.Offset)
	}
	var total int
	var countErr error
	var wg sync.WaitGroup
	if withTotal {
		wg.Go(func() { total, countErr = e.count(ctx, p) })
	}
	cur, err := e.grouped(ctx, p, p.q.Limit, p.q.Offset)
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
	p.from(b)
	b.add(" GROUP BY " + strings.Join(aliases, ", ") + ")")
	var n uint64
	if err := e.conn.QueryRow(ctx, b.sb.String(), b.args...).Scan(&n); err != nil {
		return 0, queryError(err)
	}
	return int(n), nil
}

// grouped runs a query without a time dimension, sorted, limited and
// offset by ClickHouse.
func (e *Engine) grouped(ctx context.Context, p *plan, limit, offset int) (*Cursor, error) {
	b := &builder{}
	b.add("SELECT ")
	aliases := p.selectDims(b, false)
	p.selectMetrics(b, len(aliases) == 0)
	p.from(b)
	if len(aliases) > 0 {
		b.add(" GROUP BY " + strings.Join(aliases, ", "))
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

func (s *scanner) scan(rows driver.Rows) (Row, error) {
	if err := rows.Scan(s.dest...); err != nil {
		return Row{}, fmt.Errorf("cannot read a result row: %w", err)
	}
	r := Row{Dimensions: slices.Clone(s.dims), Metrics: slices.Clone(s.ms)}
	if s.p.timeAt >= 0 {
		r.Dimensions[s.p.timeAt] = label(s.p.grain, s.key, s.p.loc)
	}
	return r, nil
}

// series runs a time series in its default order: every step of the range
// for every combination of the other dimensions' values that has events,
// empty steps as zeros, filled in as the rows stream by.
func (e *Engine) series(ctx context.Context, p *plan, limit, offset int) (*Cursor, int, error) {
	combos, err := e.combos(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	total := len(combos) * len(p.buckets)
	if offset >= total {
		return emptyCursor(ctx, p.q), total, nil
	}
	b := &builder{}
	b.add("SELECT ")
	aliases := p.selectDims(b, false)
	p.selectMetrics(b, false)
	p.from(b)
	order := []string{fmt.Sprintf("d%d", p.timeAt)}
	for _, a := range aliases {
		if a != order[0] {
			order = append(order, a)
		}
	}
	b.add(" GROUP BY " + strings.Join(aliases, ", ") + " ORDER BY " + strings.Join(order, ", "))
	rows, err := e.conn.Query(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, 0, queryError(err)
	}
	f := &filler{p: p, rows: rows, sc: newScanner(p), combos: combos, index: map[string]int{}}
	for i, c := range combos {
		f.index[comboKey(c)] = i
	}
	return newCursor(ctx, p.q, f.next, rows.Close).window(limit, offset), total, nil
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
	p.from(b)
	b.add(" GROUP BY "+strings.Join(aliases, ", ")+" ORDER BY "+strings.Join(aliases, ", ")+" LIMIT ?", maxCombos+1)
	rows, err := e.conn.Query(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, queryError(err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		c := make([]string, len(aliases))
		dest := make([]any, len(c))
		for i := range c {
			dest[i] = &c[i]
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

func comboKey(values []string) string { return strings.Join(values, "\x00") }

// filler walks the grid of buckets times combinations in order and merges
// in the rows ClickHouse sends in the same order.
type filler struct {
	p       *plan
	rows    driver.Rows
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

// sortedSeries fills a time series in memory and sorts it by the query's
// order; it is bounded by maxSorted.
func (e *Engine) sortedSeries(ctx context.Context, p *plan, limit, offset int) (*Cursor, int, error) {
	combos, err := e.combos(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	n := len(combos) * len(p.buckets)
	if offset >= n {
		return emptyCursor(ctx, p.q), n, nil
	}
	if n > maxSorted {
		return nil, 0, invalid("order_by", "sorting a time series of %d rows (more than %d) other than by time ascending; add filters, or sort by time", n, maxSorted)
	}
	cur, _, err := e.series(ctx, p, 0, 0)
	if err != nil {
		return nil, 0, err
	}
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
	total := len(all)
	i := 0
	out := newCursor(ctx, p.q, func() (Row, bool, error) {
		if i >= len(all) {
			return Row{}, false, nil
		}
		i++
		return all[i-1], true, nil
	}, nil)
	return out.window(limit, offset), total, nil
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

// queryError keeps ClickHouse's own words for the log; a zone ClickHouse
// does not know is the client's to fix.
func queryError(err error) error {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && strings.Contains(ex.Message, "time zone") {
		return apierr.Invalid("timezone: the ClickHouse server does not know this time zone")
	}
	return fmt.Errorf("cannot run the stats query: %w", err)
}
