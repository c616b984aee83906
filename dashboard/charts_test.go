package dashboard

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credstats/credstats/aggregator/query"
)

// TestLabelOn: text drawn on the charts' bars (the split of each action
// between recipients and guests) stands out from them by 4.5:1 or more.
func TestLabelOn(t *testing.T) {
	for _, c := range []string{recipientColor, guestColor} {
		if got := contrast(labelOn(c), c); got < 4.5 {
			t.Errorf("text in %s on %s: %.2f:1", labelOn(c), c, got)
		}
	}
	f := func(a, b string, want float64) {
		t.Helper()
		if got := contrast(a, b); got < want-0.01 || got > want+0.01 {
			t.Errorf("contrast(%s, %s) = %.3f, want %.2f", a, b, got, want)
		}
	}
	f("#ffffff", "#000000", 21)
	f("#ffffff", "#38bdf8", 2.14)
	f("#64748b", "#f5f6fa", 4.41)
}

// TestFunnelIsHonest: each stage's bar is as wide as its count against the
// widest of its funnel, from zero, so a stage of 0 has no width at all, and
// the table and the label say every count.
func TestFunnelIsHonest(t *testing.T) {
	c, table, note := funnelChart(query.Result{Results: []query.Row{
		{Dimensions: []string{"recipient"}, Metrics: []float64{200, 50, 0}},
		{Dimensions: []string{"guest"}, Metrics: []float64{0, 0, 0}},
	}})
	if note != "" {
		t.Errorf("a funnel that narrows has a note: %q", note)
	}
	var o struct {
		XAxis []struct {
			Min, Max float64
		} `json:"xAxis"`
		Series []struct {
			Name  string
			Stack string
			Data  []struct{ Value float64 }
		}
	}
	if err := json.Unmarshal([]byte(c.Option), &o); err != nil {
		t.Fatal(err)
	}
	if len(o.XAxis) != 2 || o.XAxis[0].Min != 0 || o.XAxis[0].Max != 200 || o.XAxis[1].Min != 0 {
		t.Fatalf("axes %+v", o.XAxis)
	}
	values := func(i int) []float64 {
		var out []float64
		for _, d := range o.Series[i].Data {
			out = append(out, d.Value)
		}
		return out
	}
	f := func(series int, want ...float64) {
		t.Helper()
		if got := values(series); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", o.Series[series].Name, got, want)
		}
	}
	f(0, 0, 75, 100) // centring offsets: (200 - n) / 2
	f(1, 200, 50, 0)
	f(2, 0, 0, 0)
	f(3, 0, 0, 0)
	if o.Series[0].Stack != o.Series[1].Stack || o.Series[1].Stack == o.Series[3].Stack {
		t.Errorf("stacks %q %q %q %q", o.Series[0].Stack, o.Series[1].Stack, o.Series[2].Stack, o.Series[3].Stack)
	}
	want := [][]string{{"Viewed", "200", "0"}, {"Shared", "50", "0"}, {"Added to LinkedIn", "0", "0"}}
	if !reflect.DeepEqual(table.Rows, want) {
		t.Errorf("table %v, want %v", table.Rows, want)
	}
	if !strings.Contains(c.Label, "added to LinkedIn 0 · 0.00 per view") {
		t.Errorf("label %q", c.Label)
	}
}

// TestAWiderStageSaysWhy: more shares than views (a viewer sharing to
// three networks) is drawn as it is, in shares per view, and the note
// says why the later stage is wider.
func TestAWiderStageSaysWhy(t *testing.T) {
	c, table, note := funnelChart(query.Result{Results: []query.Row{
		{Dimensions: []string{"recipient"}, Metrics: []float64{17, 20, 3}},
		{Dimensions: []string{"guest"}, Metrics: []float64{100, 10, 1}},
	}})
	if table.Rows[1][1] != "20" || !strings.Contains(c.Label, "shared 20 · 1.18 per view") {
		t.Errorf("recipients' shares %q, label %q", table.Rows[1][1], c.Label)
	}
	if !strings.Contains(note, "Recipients: 20 shared, 17 viewed") || strings.Contains(note, "Guests") || !strings.Contains(note, "several networks") {
		t.Errorf("note %q", note)
	}
}

// TestSharesPerViewAndItsChange: the headline shows shares per view as a
// ratio, and its change as a relative change: from 0.527 to 1.176 is
// +123%, not "+0.6 pts".
func TestSharesPerViewAndItsChange(t *testing.T) {
	f := figure{Label: metricLabels[mShareRate], Value: 20.0 / 17, Prev: 0.527, HasPrev: true, Ratio: true}
	if f.Display() != "1.18" || f.PrevDisplay() != "0.53" || f.Label != "Shares per view" {
		t.Errorf("%s %s vs %s", f.Label, f.Display(), f.PrevDisplay())
	}
	if d := f.Delta(); d.Text != "+123%" || d.Dir != "up" {
		t.Errorf("change %+v, want +123%% up", d)
	}
}

// TestTrendIsStraight: counts go from one point to the next in straight
// lines, and the table has a row for each point.
func TestTrendIsStraight(t *testing.T) {
	v := view{State: State{Range: "7d"}, now: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), loc: time.UTC}
	r := query.Result{}
	for d := 4; d <= 10; d++ {
		r.Results = append(r.Results, query.Row{Dimensions: []string{fmt.Sprintf("2026-03-%02d", d)}, Metrics: []float64{float64(d), 1, 0, 0, 0, 0}})
	}
	c := trendChart(v, r)
	var o struct {
		Series []struct {
			Smooth *bool
		}
	}
	if err := json.Unmarshal([]byte(c.Option), &o); err != nil {
		t.Fatal(err)
	}
	for i, s := range o.Series {
		if s.Smooth == nil || *s.Smooth {
			t.Errorf("series %d is smoothed", i)
		}
	}
	if len(c.Table.Rows) != 7 || c.Table.Rows[0][0] != "Wed 4 Mar 2026" || c.Table.Rows[6][1] != "10" {
		t.Errorf("table %v", c.Table.Rows)
	}
	if !strings.Contains(c.Label, "from Wed 4 Mar 2026 to Tue 10 Mar 2026: 49 views") || !strings.Contains(c.Label, "Busiest day: Tue 10 Mar 2026, with 10 views") {
		t.Errorf("label %q", c.Label)
	}
}
