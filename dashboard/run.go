package dashboard

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/credstats/credstats/aggregator/query"
)

// run answers a query as the engine does, in fewer of ClickHouse's
// seconds where it asks for unique viewers with other metrics.
//
// Unique viewers merge uniq states, and reading those states is most of a
// query's time: a query that asks for them with counts of other types
// reads a rollup that keeps a state for every type, network and actor
// (totals_daily, group_daily), where one asking for them alone reads the
// views-only rollups (views_daily, group_views_daily), a state a day. So
// run asks for the other metrics first and for unique viewers apart: of
// the total or of each time step at once, or, for a ranking, of its rows
// only (filtered to their values: on a per-credential rollup, which is
// ordered by credential, ten credentials' rows instead of all of them).
// A uniq state merged from the same visitors is the same whatever rows
// it was merged from, so the numbers are those of the single query.
//
// The rows are the same too, because the query also counts views: a row
// with unique viewers has views, so leaving unique viewers out drops none
// of the rows, and the order and limit, which must not name unique
// viewers, pick the same ones.
func (d *Dashboard) run(ctx context.Context, q query.Query) (query.Result, error) {
	uv := slices.Index(q.Metrics, mUniqueViewers)
	series := !slices.ContainsFunc(q.Dimensions, func(dim string) bool { return !strings.HasPrefix(dim, "time:") })
	// A total, a time series, or a ranking by one dimension; the engine's
	// default order is by the first metric.
	if uv <= 0 || !slices.Contains(q.Metrics, mViews) || (!series && len(q.Dimensions) > 1) ||
		slices.ContainsFunc(q.OrderBy, func(o query.Order) bool { return o.Field == mUniqueViewers }) {
		return d.o.Engine.Page(ctx, q)
	}
	rest := q
	rest.Metrics = slices.Delete(slices.Clone(q.Metrics), uv, uv+1)
	viewers := q
	viewers.Metrics = []string{mUniqueViewers}
	viewers.OrderBy = nil

	var res, uvs query.Result
	if series {
		// A total or a time series: both answer the same steps, so they
		// run at once.
		var err, uvErr error
		var wg sync.WaitGroup
		wg.Go(func() { uvs, uvErr = d.o.Engine.Page(ctx, viewers) })
		res, err = d.o.Engine.Page(ctx, rest)
		wg.Wait()
		if err = cmp.Or(err, uvErr); err != nil {
			return query.Result{}, err
		}
	} else {
		var err error
		if res, err = d.o.Engine.Page(ctx, rest); err != nil {
			return query.Result{}, err
		}
		var values []string
		for _, row := range res.Results {
			values = append(values, firstDim(row))
		}
		slices.Sort(values)
		values = slices.Compact(values)
		if len(values) > query.MaxValues || slices.ContainsFunc(values, func(s string) bool { return len(s) > query.MaxValueLen }) {
			return d.o.Engine.Page(ctx, q)
		}
		if len(values) > 0 {
			viewers.Filters = append(slices.Clone(q.Filters), query.Filter{Op: "is", Dimension: q.Dimensions[0], Values: values})
			viewers.Limit, viewers.Offset = len(values), 0
			uvs, err = d.o.Engine.Page(ctx, viewers)
			if invalidQuery(err) {
				// A value the engine does not take in a filter.
				return d.o.Engine.Page(ctx, q)
			}
			if err != nil {
				return query.Result{}, err
			}
		}
	}

	byRow := map[string]float64{}
	for _, row := range uvs.Results {
		byRow[strings.Join(row.Dimensions, "\x00")] = at(row.Metrics, 0)
	}
	for i, row := range res.Results {
		ms := slices.Insert(slices.Clone(row.Metrics), min(uv, len(row.Metrics)), byRow[strings.Join(row.Dimensions, "\x00")])
		res.Results[i].Metrics = ms
	}
	res.Query.Metrics = q.Metrics
	return res, nil
}
