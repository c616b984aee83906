package query

import (
	"fmt"
	"strings"
	"time"

	"github.com/credstats/credstats/internal/catalog"
)

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
			b.add("toString(" + p.column(d) + ")")
		}
		b.add(" AS " + alias)
	}
	return aliases
}

// column is the SQL of a dimension other than time in the plan's table.
func (p *plan) column(d string) string {
	if d == "days_since_issue" {
		return sinceIssue(p.table)
	}
	return columns[d]
}

// timeExpr buckets the rollup's time column in the query's zone; the
// answer is a bucket key (see bucket).
func (p *plan) timeExpr(b *builder) {
	if p.table.Grain == catalog.Daily {
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
	b.add(" FROM " + p.table.Name)
	if needsRegistry(p.q) {
		b.add(registrySQL)
	}
	b.add(" WHERE ")
	if p.table.Grain == catalog.Daily {
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
	if p.q.Org != "" {
		b.add(" AND credential IN ("+orgCredentials+")", p.q.Org, p.q.Org)
	}
	for _, f := range p.q.Filters {
		col := p.column(f.Dimension)
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

// groupBy writes GROUP BY over the aliases and keeps only the groups with
// a metric other than zero: a breakdown of shares by network has no row
// for the network "" of views.
func (p *plan) groupBy(b *builder, aliases []string) {
	b.add(" GROUP BY " + strings.Join(aliases, ", ") + " HAVING ")
	for i := range p.q.Metrics {
		if i > 0 {
			b.add(" OR ")
		}
		b.add(fmt.Sprintf("m%d != 0", i))
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
