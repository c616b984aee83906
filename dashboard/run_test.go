package dashboard

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

// TestRunAsEngine checks that run, which asks for unique viewers apart,
// answers every query of the sections exactly as the engine's single
// query does, for the overview and a group's and a credential's pages, in
// several ranges and time zones.
func TestRunAsEngine(t *testing.T) {
	_, conn := chtest.New(t)
	ctx := context.Background()
	// 20,000 events over 40 days: 40 credentials in 5 groups and none,
	// 7 referrers, 5 countries, visitors repeating, API events without one.
	err := conn.Exec(ctx, `INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
	url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)
SELECT generateUUIDv4(), toDateTime(now() - 600 - (number * 173) % (40 * 86400)),
	concat('c', toString(number % 40)), if(number % 40 < 35, concat('g', toString(number % 40 % 5)), ''),
	arrayElement(['view', 'view', 'view', 'share', 'download', 'linkedin_add', 'verify'], (intDiv(number, 40) % 7) + 1),
	if(intDiv(number, 40) % 7 = 3, 'linkedin', ''), if(number % 4 = 0, 'recipient', 'guest'), if(number % 11 = 0, 'api', 'beacon'),
	if(number % 11 = 0, 0, cityHash64(number % 3000)), '', '',
	arrayElement(['', 't.co', 'www.linkedin.com', 'mail.google.com', 'example.org', 'x.com', 'bing.com'], (number % 7) + 1), '',
	arrayElement(['DE', 'FR', '', 'US', 'NL'], (intDiv(number, 3) % 5) + 1), 'Chrome', 'Linux', 'desktop', ''
FROM numbers(20000)`)
	if err != nil {
		t.Fatal(err)
	}
	engine := query.NewEngine(conn, time.Now)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r, err := engine.Run(ctx, query.Query{Metrics: []string{mEvents}, DateRange: query.DateRange{Preset: "all"}})
		if err == nil && len(r.Results) == 1 && r.Results[0].Metrics[0] == 20000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollups did not fill: %+v, %v", r, err)
		}
	}
	d := New(Options{Engine: engine, Secret: []byte("0123456789abcdef0123456789abcdef"), CacheTTL: -1})

	berlin, _ := time.LoadLocation("Europe/Berlin")
	views := []view{}
	for _, rng := range []string{"all", "12mo", "30d", "7d", "24h", "today"} {
		for _, loc := range []*time.Location{time.UTC, berlin} {
			views = append(views, view{State: State{Range: rng}, now: time.Now(), loc: loc})
		}
	}
	views = append(views,
		view{State: State{Range: "30d", Group: "g1"}, now: time.Now(), loc: time.UTC},
		view{State: State{Range: "30d", Search: "c1"}, now: time.Now(), loc: time.UTC},
		view{viewer: viewer{scope: auth.Scope{Kind: auth.ScopeGroup, Value: "g2"}}, State: State{Range: "12mo"}, now: time.Now(), loc: time.UTC},
		view{State: State{Range: "all"}, credential: "c3", now: time.Now(), loc: time.UTC},
	)
	for _, v := range views {
		qs := map[string]query.Query{
			"headline":    v.query(headlineMetrics),
			"trend":       trendQuery(v),
			"credentials": topQuery(v, "credential"),
			"groups":      topQuery(v, "group"),
			"referrers":   listQuery(v, "referrer"),
			"countries":   listQuery(v, "country"),
			"actors":      actorsQuery(v),
		}
		if prior, hours, ok := v.prior(); ok {
			prev := v.query(headlineMetrics)
			prev.DateRange = prior.dateRange()
			if hours {
				prev.Dimensions, prev.Limit = []string{"time:hour"}, 100
			}
			qs["prior"] = prev
		}
		for name, q := range qs {
			t.Run(fmt.Sprintf("%s/%s/%s/%s%s%s", v.Range, v.loc, name, v.Group, v.scope.Value, v.credential), func(t *testing.T) {
				want, err := engine.Run(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				got, err := d.run(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.Results, want.Results) {
					t.Errorf("run answered\n%+v\nthe engine\n%+v", got.Results, want.Results)
				}
				if name == "headline" && (len(want.Results) != 1 || want.Results[0].Metrics[0] == 0) && v.Range == "all" {
					t.Errorf("no events counted: %+v", want.Results)
				}
			})
		}
	}
}
