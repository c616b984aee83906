package dashboard

import (
	"time"

	"github.com/credstats/credstats/aggregator/query"
)

// period is a date range as the aggregator takes it: a preset it resolves
// itself, or the calendar days from to to, both included.
type period struct {
	preset   string
	from, to time.Time
}

func (p period) dateRange() query.DateRange {
	if p.preset != "" {
		return query.DateRange{Preset: p.preset}
	}
	return query.DateRange{From: p.from, To: p.to}
}

// current is the view's range.
func (v view) current() period {
	if v.Range == customRange {
		return period{from: v.From, to: v.To}
	}
	return period{preset: v.Range}
}

func (v view) midnight(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, v.loc)
}

// bounds is the view's range as instants [from, to), resolved as the
// aggregator resolves it: whole days, hours or months, the current one
// included; from is zero for "all".
func (v view) bounds() (from, to time.Time) {
	n := v.now.In(v.loc)
	y, m, d := n.Date()
	tomorrow := v.midnight(y, m, d+1)
	switch v.Range {
	case "today":
		return v.midnight(y, m, d), tomorrow
	case "24h":
		hour := time.Date(y, m, d, n.Hour(), 0, 0, 0, v.loc)
		return hour.Add(-23 * time.Hour), hour.Add(time.Hour)
	case "7d":
		return v.midnight(y, m, d-6), tomorrow
	case "30d":
		return v.midnight(y, m, d-29), tomorrow
	case "month":
		return v.midnight(y, m, 1), v.midnight(y, m+1, 1)
	case "12mo":
		return v.midnight(y, m-11, 1), v.midnight(y, m+1, 1)
	case customRange:
		return v.midnight(v.From.Date()), v.midnight(v.To.Year(), v.To.Month(), v.To.Day()+1)
	}
	return time.Time{}, tomorrow
}

// day is the calendar day of t, as the aggregator takes explicit ranges.
func day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// prior is the period the headline figures are compared with: as many
// days just before the view's range, or for this month the same days of
// last month; ok is false for "all". "24h" has no whole days before it:
// its prior is the day before and the current one, of which the headline
// keeps the 24 hours before the range (hours).
func (v view) prior() (p period, hours bool, ok bool) {
	from, to := v.bounds()
	switch v.Range {
	case "all":
		return period{}, false, false
	case "24h":
		return period{from: day(from.Add(-24 * time.Hour)), to: day(from)}, true, true
	case "month":
		n := v.now.In(v.loc)
		last := v.midnight(n.Year(), n.Month(), 1).Add(-time.Hour) // a time on last month's last day
		dd := min(n.Day(), last.Day())
		return period{from: day(v.midnight(last.Year(), last.Month(), 1)), to: day(v.midnight(last.Year(), last.Month(), dd))}, false, true
	case "12mo":
		return period{from: day(from.AddDate(-1, 0, 0)), to: day(from.Add(-time.Hour))}, false, true
	}
	days := int(to.Sub(from).Hours()/24 + 0.5)
	return period{from: day(from.AddDate(0, 0, -days)), to: day(from.Add(-time.Hour))}, false, true
}

// interval is the time dimension the trend uses for the range.
func (v view) interval() string {
	switch v.Range {
	case "today", "24h":
		return "time:hour"
	case "7d", "30d", "month":
		return "time:day"
	case "12mo":
		return "time:week"
	case "all":
		return "time:month"
	}
	switch span := v.To.Sub(v.From); {
	case span < 48*time.Hour:
		return "time:hour"
	case span <= 92*24*time.Hour:
		return "time:day"
	case span <= 2*366*24*time.Hour:
		return "time:week"
	}
	return "time:month"
}
