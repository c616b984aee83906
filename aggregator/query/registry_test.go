package query

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/credstats/credstats/aggregator/internal/rolluptest"
	"github.com/credstats/credstats/internal/registry"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

// TestRegistryDimensionsMatchRawEvents: views and unique viewers by the
// registry's names, status and cohorts are what the raw events say once
// each is given its credential's entry; two credentials of one name are
// one row, whose viewers are counted once.
func TestRegistryDimensionsMatchRawEvents(t *testing.T) {
	_, conn := chtest.New(t)
	rolluptest.Seed(t, conn, 3000, 5, rolluptest.Now, 60*24*time.Hour)
	ctx := context.Background()
	at := func(s string) *time.Time {
		tm, _ := time.Parse(time.DateOnly, s)
		return &tm
	}
	entries := map[string]registry.Entry{
		"cred-1":  {ID: "cred-1", Name: "Data Science", GroupName: "Programme A", RecipientName: "Ada", IssuedAt: at("2026-02-01"), Status: registry.Valid},
		"cred-2":  {ID: "cred-2", Name: "Data Science", RecipientName: "Grace", IssuedAt: at("2026-01-20"), Status: registry.Revoked},
		"cred:9":  {ID: "cred:9", Name: "Cloud <Basics>", IssuedAt: at("2026-03-10"), Status: registry.Expired},
		"cred-10": {ID: "cred-10", RecipientName: "Linus", Status: registry.Valid},
	}
	var list []registry.Entry
	for _, e := range entries {
		list = append(list, e)
	}
	// An older entry of cred-10, replaced by the one above.
	must(t, registry.Store{Conn: conn}.Put(ctx, []registry.Entry{{ID: "cred-10", Name: "Old name", Status: registry.Valid}}))
	must(t, registry.Store{Conn: conn}.Put(ctx, list))

	span := DateRange{From: day("2026-01-16"), To: day("2026-03-15")}
	rows, err := conn.Query(ctx, `SELECT credential, group_id, visitor, toString(type), toDate(time) FROM events
		WHERE bot_reason = '' AND time >= toDateTime('2026-01-16 00:00:00', 'UTC') AND time < toDateTime('2026-03-16 00:00:00', 'UTC')`)
	must(t, err)
	type agg struct {
		views   float64
		viewers map[uint64]bool
	}
	want := map[string]map[string]*agg{}
	add := func(dim, value string, typ string, visitor uint64) {
		if want[dim] == nil {
			want[dim] = map[string]*agg{}
		}
		a := want[dim][value]
		if a == nil {
			a = &agg{viewers: map[uint64]bool{}}
			want[dim][value] = a
		}
		if typ == "view" {
			a.views++
			if visitor != 0 {
				a.viewers[visitor] = true
			}
		}
	}
	for rows.Next() {
		var credential, group, typ string
		var visitor uint64
		var d time.Time
		must(t, rows.Scan(&credential, &group, &visitor, &typ, &d))
		e, known := entries[credential]
		add("credential_name", cmpOr(e.Name, credential), typ, visitor)
		add("group_name", cmpOr(e.GroupName, group), typ, visitor)
		add("recipient_name", e.RecipientName, typ, visitor)
		add("status", e.Status, typ, visitor)
		month, since := "", "unknown"
		if known && e.IssuedAt != nil {
			month = e.IssuedAt.Format("2006-01") + "-01"
			switch days := int(d.Sub(*e.IssuedAt).Hours() / 24); {
			case days < 0:
				since = "before issue"
			case days <= 7:
				since = "0-7"
			case days <= 30:
				since = "8-30"
			case days <= 90:
				since = "31-90"
			default:
				since = "91+"
			}
		}
		add("issue_month", month, typ, visitor)
		add("days_since_issue", since, typ, visitor)
	}
	must(t, rows.Err())
	rows.Close()

	e := NewEngine(conn, func() time.Time { return rolluptest.Now })
	for _, dim := range []string{"credential_name", "group_name", "recipient_name", "status", "issue_month", "days_since_issue"} {
		res, err := e.Run(ctx, Query{Metrics: []string{"views", "unique_viewers"}, Dimensions: []string{dim}, DateRange: span, Limit: 1000})
		must(t, err)
		got := map[string][]float64{}
		for _, r := range res.Results {
			got[r.Dimensions[0]] = r.Metrics
		}
		for value, a := range want[dim] {
			if a.views == 0 {
				continue
			}
			if g := got[value]; !slices.Equal(g, []float64{a.views, float64(len(a.viewers))}) {
				t.Errorf("%s %q: %v, raw events say %v views, %d viewers", dim, value, g, a.views, len(a.viewers))
			}
		}
		if len(got) < 2 {
			t.Errorf("%s: only %v", dim, got)
		}
	}
	// The names are filters too, and a registry dimension goes with others.
	res, err := e.Run(ctx, Query{Metrics: []string{"views"}, Dimensions: []string{"credential", "status"}, DateRange: span,
		Filters: []Filter{{Op: "contains", Dimension: "credential_name", Values: []string{"Science"}}}})
	must(t, err)
	var seen []string
	for _, r := range res.Results {
		seen = append(seen, fmt.Sprint(r.Dimensions))
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"[cred-1 valid]", "[cred-2 revoked]"}) {
		t.Errorf("credentials named like Science: %v", seen)
	}
	if _, err := e.Run(ctx, Query{Metrics: []string{"views"}, Dimensions: []string{"status"}, Filters: []Filter{{Op: "is", Dimension: "status", Values: []string{"lost"}}}}); err == nil {
		t.Error("a filter on an unknown status ran")
	}
}
