package query

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/credstats/credstats/aggregator/internal/rolluptest"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

// everywhere lists the metrics every rollup can answer: all but those
// that read the arrival (catalog.Reach).
func everywhere() []string {
	return slices.DeleteFunc(slices.Clone(metrics), func(m string) bool {
		return slices.ContainsFunc(metricDims[m], func(d string) bool { return d != "type" })
	})
}

func TestShareReachMatchesRawEvents(t *testing.T) {
	_, conn := chtest.New(t)
	rolluptest.Seed(t, conn, 4000, 5, rolluptest.Now, 40*24*time.Hour)
	e := NewEngine(conn, func() time.Time { return rolluptest.Now })
	span := DateRange{From: day("2026-02-10"), To: day("2026-03-15")}
	reach := []string{"views_from_shares", "views_per_share", "recipient_share_reach"}
	if len(everywhere()) != len(metrics)-len(reach) {
		t.Fatalf("everywhere() = %v", everywhere())
	}
	for _, tz := range []string{"UTC", "Asia/Kathmandu"} {
		for _, dims := range [][]string{nil, {"arrived_from"}, {"shared_by"}, {"arrived_from", "shared_by"}, {"network"}, {"credential"}, {"group", "actor"}, {"time:day", "arrived_from"}} {
			res := sameAsRaw(t, e, conn, Query{Metrics: metrics, Dimensions: dims, DateRange: span, Timezone: tz})
			if len(dims) > 0 && len(res.Results) < 2 {
				t.Errorf("%v in %s: %d rows; the test data should have more", dims, tz, len(res.Results))
			}
		}
	}
	for _, f := range []Filter{
		{Op: "is", Dimension: "arrived_from", Values: []string{"linkedin", "email"}},
		{Op: "is_not", Dimension: "arrived_from", Values: []string{"direct"}},
		{Op: "is", Dimension: "shared_by", Values: []string{"recipient"}},
		{Op: "contains", Dimension: "arrived_from", Values: []string{"it"}},
		{Op: "is", Dimension: "group", Values: []string{"prog-b"}},
	} {
		sameAsRaw(t, e, conn, Query{Metrics: reach, Dimensions: []string{"arrived_from"}, Filters: []Filter{f}, DateRange: span})
	}

	// A network's row holds its shares and the views they brought.
	res, err := e.Run(context.Background(), Query{Metrics: []string{"shares", "views_from_shares", "views_per_share"}, Dimensions: []string{"arrived_from"}, DateRange: span,
		Filters: []Filter{{Op: "is", Dimension: "arrived_from", Values: []string{"linkedin"}}}})
	must(t, err)
	if len(res.Results) != 1 || res.Results[0].Metrics[0] == 0 || res.Results[0].Metrics[1] == 0 || res.Results[0].Metrics[2] != res.Results[0].Metrics[1]/res.Results[0].Metrics[0] {
		t.Errorf("linkedin: %v", res.Results)
	}

	// The arrival is counted with the credential's own dimensions only.
	for _, q := range []Query{
		{Metrics: []string{"views"}, Dimensions: []string{"arrived_from", "country"}},
		{Metrics: []string{"views_from_shares"}, Dimensions: []string{"referrer"}},
		{Metrics: []string{"recipient_share_reach"}, Filters: []Filter{{Op: "is", Dimension: "device", Values: []string{"mobile"}}}},
	} {
		_, err := e.Run(context.Background(), q)
		var qe *Error
		if !errors.As(err, &qe) || qe.Field != "dimensions" {
			t.Errorf("%v %v: %v, want an error naming dimensions", q.Metrics, q.Dimensions, err)
		}
	}
}
