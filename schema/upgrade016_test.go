package schema_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/schema"
)

// TestCheaperViewsKeepTheAnswers: migration 016 drops credential_15m and
// feeds credential_traffic_15m, reach_15m and credential_hosts a row an
// event. The events stored before it answer as they did (what read
// credential_15m now reads credential_traffic_15m), and those stored after
// it answer as the raw events say.
func TestCheaperViewsKeepTheAnswers(t *testing.T) {
	ctx := context.Background()
	conn := migratedTo(t, 15)
	insert016Events(t, conn, 0, 3000)
	engine := query.NewEngine(conn, nil)
	all := query.DateRange{Preset: "all"}
	queries := []query.Query{
		{Metrics: []string{"events", "views", "unique_viewers", "shares"}, Dimensions: []string{"credential"}, DateRange: all},
		{Metrics: []string{"views", "unique_viewers"}, Dimensions: []string{"credential", "network", "actor"}, DateRange: all},
		{Metrics: []string{"views", "unique_viewers", "shares"}, Dimensions: []string{"time:day"}, Filters: []query.Filter{{Op: "is", Dimension: "credential", Values: []string{"c3"}}}, DateRange: all},
		{Metrics: []string{"views", "unique_viewers"}, Dimensions: []string{"credential", "country"}, DateRange: all},
		{Metrics: []string{"views_from_shares", "recipient_share_reach"}, Dimensions: []string{"credential", "arrived_from"}, DateRange: all},
	}
	answers := func() []any {
		t.Helper()
		var out []any
		for _, q := range queries {
			r, err := engine.Run(ctx, q)
			if err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			out = append(out, r.Results)
		}
		return out
	}
	before := answers()
	hostsBefore := hostPairs(t, conn)
	if _, _, err := schema.Migrate(ctx, conn, schema.Options{}); err != nil {
		t.Fatal(err)
	}
	var left uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('credential_15m', 'credential_15m_mv')").Scan(&left); err != nil || left != 0 {
		t.Errorf("%d of credential_15m and its view left (%v)", left, err)
	}
	if after := answers(); !reflect.DeepEqual(before, after) {
		t.Errorf("answers changed by 016:\nbefore %+v\nafter  %+v", before, after)
	}
	if after := hostPairs(t, conn); after != hostsBefore {
		t.Errorf("credential_hosts holds %d pairs after 016, %d before", after, hostsBefore)
	}

	// The new views: what is stored after 016 counts as the raw events say.
	insert016Events(t, conn, 3000, 3000)
	if err := conn.Exec(ctx, "OPTIMIZE TABLE credential_hosts FINAL"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"credential_traffic_15m", "reach_15m"} {
		for _, c := range []string{"c0", "c3", "c11"} {
			var rolled, raw [2]uint64
			if err := conn.QueryRow(ctx, "SELECT sum(events), uniqMergeIf(visitors, type = 'view') FROM "+table+" WHERE credential = ?", c).Scan(&rolled[0], &rolled[1]); err != nil {
				t.Fatal(err)
			}
			if err := conn.QueryRow(ctx, "SELECT count(), uniqIf(visitor, type = 'view' AND visitor != 0) FROM events WHERE bot_reason = '' AND credential = ?", c).Scan(&raw[0], &raw[1]); err != nil {
				t.Fatal(err)
			}
			if rolled != raw {
				t.Errorf("%s, %s: events and unique viewers %v, the raw events say %v", table, c, rolled, raw)
			}
		}
	}
	var rows, pairs uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(url_host, credential) FROM credential_hosts").Scan(&rows, &pairs); err != nil {
		t.Fatal(err)
	}
	if want := rawHostPairs(t, conn); rows != want || pairs != want {
		t.Errorf("credential_hosts: %d rows of %d pairs after merging, the events have %d pairs", rows, pairs, want)
	}
}

// insert016Events stores n events numbered from from: 17 credentials on
// two hosts, bots, API events without a visitor, shares and arrivals.
func insert016Events(t *testing.T, conn driver.Conn, from, n int) {
	t.Helper()
	err := conn.Exec(context.Background(), fmt.Sprintf(`INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor, url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason, arrived_from, shared_by)
		SELECT generateUUIDv4(), toDateTime('2026-11-02 00:00:00') + number * 97, concat('c', toString(number %% 17)), concat('g', toString(number %% 17 %% 3)),
		['view', 'view', 'view', 'share', 'download', 'verify'][number %% 6 + 1], if(number %% 6 = 3, ['linkedin', 'twitter'][number %% 2 + 1], ''),
		['guest', 'recipient'][number %% 5 %% 2 + 1], if(number %% 11 = 0, 'api', 'beacon'), if(number %% 11 = 0, 0, number %% 40 + 1),
		if(number %% 9 = 0, 'badges.example.com', 'certs.example.org'), '/', ['', 'www.linkedin.com', 't.co'][number %% 3 + 1], '/',
		['DE', 'US', ''][number %% 7 %% 3 + 1], 'Chrome', 'Windows', 'desktop', if(number %% 13 = 0, 'crawler', ''),
		['', 'direct', 'linkedin', 'web'][number %% 4 + 1], if(number %% 8 = 2, 'recipient', '')
		FROM numbers(%d, %d)`, from, n))
	if err != nil {
		t.Fatal(err)
	}
}

// hostPairs counts the host and credential pairs credential_hosts holds.
func hostPairs(t *testing.T, conn driver.Conn) uint64 {
	return scalar(t, conn, "SELECT uniqExact(url_host, credential) FROM credential_hosts")
}

// rawHostPairs counts the pairs the events have.
func rawHostPairs(t *testing.T, conn driver.Conn) uint64 {
	return scalar(t, conn, "SELECT uniqExact(url_host, credential) FROM events WHERE url_host != ''")
}

func scalar(t *testing.T, conn driver.Conn, sql string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
