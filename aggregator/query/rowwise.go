package query

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/credstats/credstats/internal/catalog"
)

// A daily series of views and unique viewers from a views-only rollup
// groups by the rollup's whole key (day, with at most the one group of a
// filter), so once ClickHouse has merged a day's parts the day is one row:
// its counts, and a unique-viewer state to finalize as it is. Merging
// states costs as much again as decoding them, since every hash of a
// state is inserted into an empty one. So such a series reads the rows as
// stored, finalizing each state, and a day read as more than one row
// (today's, or a day whose parts are not merged yet) is asked for again,
// merged, in a second query. Each day's answer comes from one read of all
// its rows, the same as the merged query's.

// rowMetricSQL is a metric of one row of a views-only rollup: the same as
// its metricSQL over that row alone.
var rowMetricSQL = map[string]string{
	catalog.Views.Name:         "toFloat64(events)",
	catalog.UniqueViewers.Name: "toFloat64(finalizeAggregation(visitors))",
}

// rowwise reports whether the plan is such a series.
func (p *plan) rowwise() bool {
	if !p.table.ViewsOnly || p.table.Grain != catalog.Daily || p.grain != daily || len(p.q.Dimensions) != 1 {
		return false
	}
	for _, m := range p.q.Metrics {
		if rowMetricSQL[m] == "" {
			return false
		}
	}
	return true
}

// dayRow is a day's bucket key and metrics.
type dayRow struct {
	key     int64
	metrics []float64
}

// rowwiseSeries reads a rowwise plan's days in order, as rows a filler
// takes.
func (e *Engine) rowwiseSeries(ctx context.Context, p *plan) (*memRows, error) {
	b := &builder{}
	b.add("SELECT ")
	p.selectDims(b, false)
	for i, m := range p.q.Metrics {
		b.add(fmt.Sprintf(", %s AS m%d", rowMetricSQL[m], i))
	}
	p.from(b)
	b.add(" ORDER BY d0")
	stored, err := e.dayRows(ctx, p, b)
	if err != nil {
		return nil, err
	}
	var days []dayRow
	var again []any
	for i, r := range stored {
		switch {
		case i+1 < len(stored) && stored[i+1].key == r.key:
			if len(again) == 0 || again[len(again)-1] != r.key {
				again = append(again, r.key)
			}
		case len(again) > 0 && again[len(again)-1] == r.key:
		default:
			days = append(days, r)
		}
	}
	if len(again) > 0 {
		b := p.seriesSQL(func(b *builder) {
			b.add(" AND toInt64(day) IN (?"+strings.Repeat(", ?", len(again)-1)+")", again...)
		})
		merged, err := e.dayRows(ctx, p, b)
		if err != nil {
			return nil, err
		}
		days = append(days, merged...)
		slices.SortFunc(days, func(a, b dayRow) int { return cmp.Compare(a.key, b.key) })
	}
	days = slices.DeleteFunc(days, func(r dayRow) bool { return !slices.ContainsFunc(r.metrics, func(m float64) bool { return m != 0 }) })
	return &memRows{rows: days, at: -1}, nil
}

// dayRows runs a query of a day key and the plan's metrics.
func (e *Engine) dayRows(ctx context.Context, p *plan, b *builder) ([]dayRow, error) {
	rows, err := e.conn.Query(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, queryError(err)
	}
	defer rows.Close()
	var out []dayRow
	for rows.Next() {
		r := dayRow{metrics: make([]float64, len(p.q.Metrics))}
		dest := []any{&r.key}
		for i := range r.metrics {
			dest = append(dest, &r.metrics[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("cannot read a result row: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, queryError(err)
	}
	return out, nil
}

// memRows are rows already read, in the shape a scanner scans: the day
// key, then the metrics.
type memRows struct {
	rows []dayRow
	at   int
}

func (m *memRows) Next() bool {
	m.at++
	return m.at < len(m.rows)
}

func (m *memRows) Scan(dest ...any) error {
	if len(dest) != 1+len(m.rows[m.at].metrics) {
		return fmt.Errorf("scanning %d columns of a row of %d", len(dest), 1+len(m.rows[m.at].metrics))
	}
	*dest[0].(*int64) = m.rows[m.at].key
	for i, v := range m.rows[m.at].metrics {
		*dest[i+1].(*float64) = v
	}
	return nil
}

func (m *memRows) Err() error { return nil }
