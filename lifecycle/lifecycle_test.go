package lifecycle_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"

	"github.com/credstats/credstats/aggregator/counters"
	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/event"
)

var ctx = context.Background()

// ev is an event a browser sent: a visitor, a country, a page.
func ev(credential, group string, typ event.Type, network event.Network, at time.Time, visitor uint64) event.Event {
	return event.Event{
		ID: uuid.New(), Time: at, Credential: credential, Group: group, Type: typ, Network: network,
		Actor: event.Guest, Source: event.Beacon, Visitor: visitor, URLHost: "certs.example.org",
		URLPath: "/c/" + credential, ReferrerHost: "www.linkedin.com", Country: "DE", Browser: "Firefox",
		OS: "Linux", Device: event.Desktop,
	}
}

func put(t *testing.T, conn driver.Conn, events ...event.Event) {
	t.Helper()
	if err := (collector.ClickHouseSink{Conn: conn}).Write(ctx, collector.Batch{ID: 1, Events: events}); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, conn driver.Conn, sql string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// sums are the events counted per table fed from events, and the events.
func sums(t *testing.T, conn driver.Conn) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{"events": count(t, conn, "SELECT count() FROM events WHERE bot_reason = ''")}
	out["credential_daily"] = count(t, conn, "SELECT countMerge(events) FROM credential_daily")
	for _, table := range []string{"totals_daily", "totals_15m", "group_daily", "group_15m", "traffic_daily", "traffic_15m", "credential_traffic_15m"} {
		out[table] = count(t, conn, "SELECT sum(events) FROM "+table)
	}
	return out
}

func stats(t *testing.T, conn driver.Conn, credential string) counters.Stats {
	t.Helper()
	st, err := counters.Store{Conn: conn}.CredentialStats(ctx, credential)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// runQuery answers a query API body.
func runQuery(t *testing.T, conn driver.Conn, now time.Time, body string) query.Result {
	t.Helper()
	q, err := query.DecodeQuery([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := query.NewEngine(conn, func() time.Time { return now }).Run(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// rowsNaming counts, in every table of the database, the rows with a
// string column (or an array of strings) that holds s: the scan that
// proves an erasure.
func rowsNaming(t *testing.T, conn driver.Conn, s string) map[string]uint64 {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT table, name, type LIKE 'Array%' FROM system.columns
		WHERE database = currentDatabase() AND (type = 'String' OR type = 'LowCardinality(String)' OR type = 'Array(String)')
		AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT LIKE '%View')`)
	if err != nil {
		t.Fatal(err)
	}
	conds := map[string][]string{}
	for rows.Next() {
		var table, column string
		var array bool
		if err := rows.Scan(&table, &column, &array); err != nil {
			t.Fatal(err)
		}
		if array {
			conds[table] = append(conds[table], "has("+column+", ?)")
		} else {
			conds[table] = append(conds[table], column+" = ?")
		}
	}
	rows.Close()
	if len(conds) < 10 {
		t.Fatalf("only %d tables with strings: the scan is broken", len(conds))
	}
	found := map[string]uint64{}
	for table, cs := range conds {
		args := make([]any, len(cs))
		for i := range args {
			args[i] = s
		}
		if n := count(t, conn, "SELECT count() FROM "+table+" WHERE "+strings.Join(cs, " OR "), args...); n > 0 {
			found[table] = n
		}
	}
	return found
}
