package query

import (
	"time"
)

// span is a query's time range in its zone, [from, to); from is zero when
// the range is open ("all" without a time dimension).
type span struct {
	from, to time.Time
}

func midnight(loc *time.Location, y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// resolve turns a date range into instants: a range of days runs from the
// first day's local midnight to the midnight after its last day, so that the
// current day, month or hour is always whole.
func resolve(r DateRange, loc *time.Location, now time.Time) span {
	n := now.In(loc)
	y, m, d := n.Date()
	tomorrow := midnight(loc, y, m, d+1)
	switch r.Preset {
	case "today":
		return span{midnight(loc, y, m, d), tomorrow}
	case "24h":
		hour := time.Date(y, m, d, n.Hour(), 0, 0, 0, loc)
		return span{hour.Add(-23 * time.Hour), hour.Add(time.Hour)}
	case "7d":
		return span{midnight(loc, y, m, d-6), tomorrow}
	case "30d":
		return span{midnight(loc, y, m, d-29), tomorrow}
	case "month":
		return span{midnight(loc, y, m, 1), midnight(loc, y, m+1, 1)}
	case "12mo":
		return span{midnight(loc, y, m-11, 1), midnight(loc, y, m+1, 1)}
	case "all":
		return span{time.Time{}, tomorrow}
	}
	fy, fm, fd := r.From.Date()
	ty, tm, td := r.To.Date()
	return span{midnight(loc, fy, fm, fd), midnight(loc, ty, tm, td+1)}
}

// aligned reports whether t falls on a multiple of step seconds since the
// epoch; the open start of a range is aligned with everything.
func aligned(t time.Time, step int64) bool {
	return t.IsZero() || t.Unix()%step == 0
}

// utcNames are the zones whose days are UTC days, which the daily
// rollups count by.
var utcNames = map[string]bool{
	"UTC": true, "Etc/UTC": true, "Etc/UCT": true, "UCT": true, "Etc/Universal": true, "Universal": true,
	"Etc/Zulu": true, "Zulu": true, "GMT": true, "Etc/GMT": true, "Etc/GMT0": true, "Etc/GMT+0": true,
	"Etc/GMT-0": true, "GMT0": true, "GMT+0": true, "GMT-0": true, "Etc/Greenwich": true, "Greenwich": true,
}

// grain is the step of a time dimension.
type grain int

const (
	hourly grain = iota
	daily
	weekly
	monthly
)

var grains = map[string]grain{"time:hour": hourly, "time:day": daily, "time:week": weekly, "time:month": monthly}

// bucket is one step of a time series. key is what ClickHouse answers for
// it: epoch seconds of the hour's start, or the day number (days since
// 1970-01-01) of the first day of a day, week or month.
type bucket struct {
	key   int64
	label string
}

// label names a bucket: hours as RFC 3339 instants in the query's zone
// (unambiguous when clocks go back), days, weeks and months as the date of
// their first day (weeks start on Monday).
func label(g grain, key int64, loc *time.Location) string {
	if g == hourly {
		return time.Unix(key, 0).In(loc).Format(time.RFC3339)
	}
	return time.Unix(key*86400, 0).UTC().Format(time.DateOnly)
}

// buckets lists the steps of g that meet [from, to), at most max+1 of them.
func buckets(g grain, sp span, loc *time.Location, max int) []bucket {
	var out []bucket
	if g == hourly {
		for t := sp.from; t.Before(sp.to) && len(out) <= max; t = nextHour(t, loc) {
			out = append(out, bucket{t.Unix(), label(g, t.Unix(), loc)})
		}
		return out
	}
	civil := func(t time.Time) time.Time {
		y, m, d := t.In(loc).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	first, last := civil(sp.from), civil(sp.to.Add(-time.Second))
	switch g {
	case weekly:
		first = first.AddDate(0, 0, -(int(first.Weekday())+6)%7)
	case monthly:
		first = first.AddDate(0, 0, 1-first.Day())
	}
	for t := first; !t.After(last) && len(out) <= max; {
		key := t.Unix() / 86400
		out = append(out, bucket{key, label(g, key, loc)})
		switch g {
		case daily:
			t = t.AddDate(0, 0, 1)
		case weekly:
			t = t.AddDate(0, 0, 7)
		case monthly:
			t = t.AddDate(0, 1, 0)
		}
	}
	return out
}

// nextHour is the start of the local hour after t's, also where a clock
// change moves by half an hour.
func nextHour(t time.Time, loc *time.Location) time.Time {
	n := t.Add(time.Hour).In(loc)
	return n.Add(-time.Duration(n.Minute())*time.Minute - time.Duration(n.Second())*time.Second)
}
