package query

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/credstats/credstats/internal/catalog"
)

// maxBuckets bounds the steps of one time series.
const maxBuckets = 100_000

// plan is a checked query with what is needed to run it.
type plan struct {
	q       Query
	loc     *time.Location
	span    span
	table   catalog.Rollup
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
func chooseTable(q Query, loc *time.Location, sp span, hours bool) (catalog.Rollup, error) {
	var need []string
	for _, d := range q.Dimensions {
		if !isTimeDimension(d) && !isRegistryDimension(d) {
			need = append(need, d)
		}
	}
	for _, f := range q.Filters {
		if !isRegistryDimension(f.Dimension) {
			need = append(need, f.Dimension)
		}
	}
	// The registry's dimensions and an organization's scope are kept by
	// credential.
	if q.Org != "" || needsRegistry(q) {
		need = append(need, catalog.Credential.Name)
	}
	asked := slices.Clone(need) // what the query groups and filters by
	for _, m := range q.Metrics {
		need = append(need, metricDims[m]...)
	}
	dayOK := utcNames[loc.String()] && !hours && aligned(sp.from, 86400) && aligned(sp.to, 86400)
	quarterOK := aligned(sp.from, 900) && aligned(sp.to, 900)
	held := false
	for _, r := range catalog.Rollups {
		if slices.ContainsFunc(need, func(d string) bool { return !r.Has(d) }) || !r.Serves(q.Metrics, asked) {
			continue
		}
		held = true
		if daily := r.Grain == catalog.Daily; (daily && !dayOK) || (!daily && !quarterOK) {
			continue
		}
		return r, nil
	}
	if !held {
		slices.Sort(need)
		return catalog.Rollup{}, invalid("dimensions", "no table counts %s together; %s", strings.Join(slices.Compact(need), ", "), apart)
	}
	return catalog.Rollup{}, invalid("timezone", "%s is not a whole number of quarter hours from UTC in this date_range", loc)
}

// apart says which dimensions do not go together.
const apart = "arrived_from and shared_by (and the metrics views_from_shares, views_per_share and recipient_share_reach) go only with time, type, network, actor, credential and group"

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
