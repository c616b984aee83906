package query

import (
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	// 2026-03-08 07:30 UTC: 03:30 in New York, half an hour after the
	// clocks went forward; 13:15 in Kathmandu.
	now := time.Date(2026, 3, 8, 7, 30, 0, 0, time.UTC)
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	f := func(r DateRange, tz, from, to string) {
		t.Helper()
		loc, err := time.LoadLocation(tz)
		if err != nil {
			t.Fatal(err)
		}
		sp := resolve(r, loc, now)
		gotFrom := ""
		if !sp.from.IsZero() {
			gotFrom = sp.from.In(loc).Format(time.RFC3339)
		}
		if gotFrom != from || sp.to.In(loc).Format(time.RFC3339) != to {
			t.Errorf("%+v in %s: [%s, %s), want [%s, %s)", r, tz, gotFrom, sp.to.In(loc).Format(time.RFC3339), from, to)
		}
	}
	f(DateRange{Preset: "today"}, "UTC", "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z")
	f(DateRange{Preset: "today"}, "America/New_York", "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00")
	f(DateRange{Preset: "24h"}, "America/New_York", "2026-03-07T03:00:00-05:00", "2026-03-08T04:00:00-04:00")
	f(DateRange{Preset: "24h"}, "Asia/Kathmandu", "2026-03-07T14:00:00+05:45", "2026-03-08T14:00:00+05:45")
	f(DateRange{Preset: "7d"}, "UTC", "2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z")
	f(DateRange{Preset: "30d"}, "Asia/Kathmandu", "2026-02-07T00:00:00+05:45", "2026-03-09T00:00:00+05:45")
	f(DateRange{Preset: "month"}, "Europe/Berlin", "2026-03-01T00:00:00+01:00", "2026-04-01T00:00:00+02:00")
	f(DateRange{Preset: "12mo"}, "UTC", "2025-04-01T00:00:00Z", "2026-04-01T00:00:00Z")
	f(DateRange{Preset: "all"}, "UTC", "", "2026-03-09T00:00:00Z")
	f(DateRange{From: day("2026-01-01"), To: day("2026-01-31")}, "Asia/Kolkata", "2026-01-01T00:00:00+05:30", "2026-02-01T00:00:00+05:30")
	f(DateRange{From: day("2026-03-08"), To: day("2026-03-08")}, "America/New_York", "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00")
}

func TestBuckets(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	sp := resolve(DateRange{From: time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)}, ny, time.Now())
	hours := buckets(hourly, sp, ny, 100)
	if len(hours) != 23 || hours[1].label != "2026-03-08T01:00:00-05:00" || hours[2].label != "2026-03-08T03:00:00-04:00" {
		t.Errorf("hours of 8 March in New York: %d, %v", len(hours), hours[:3])
	}
	sp = resolve(DateRange{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)}, time.UTC, time.Now())
	weeks := buckets(weekly, sp, time.UTC, 100)
	if weeks[0].label != "2025-12-29" || weeks[len(weeks)-1].label != "2026-03-30" || len(weeks) != 14 {
		t.Errorf("weeks: %v", weeks)
	}
	if months := buckets(monthly, sp, time.UTC, 100); len(months) != 3 || months[2].label != "2026-03-01" {
		t.Errorf("months: %v", months)
	}
	if days := buckets(daily, sp, time.UTC, 10); len(days) != 11 {
		t.Errorf("capped days: %d, want the cap plus one", len(days))
	}
}
