// Package rolluptest fills a test database with events and waits for
// the rollups to count them, for the tests of the aggregator's packages.
package rolluptest

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"
)

// Now is the test data's clock: events lie in the 75 days before it, across the
// start of daylight saving time in New York (2026-03-08).
var Now = time.Date(2026, 3, 15, 12, 30, 0, 0, time.UTC)

var (
	credentials = []string{"cred-0", "cred-1", "cred-2", "cred-3", "cred-4", "cred-5", "cred-6", "cred-7", "cred.8", "cred:9", "cred-10", "cred-11"}
	groups      = []string{"prog-a", "prog-b", "prog-c", ""}
	networks    = []string{"linkedin", "twitter", "facebook", "messenger", "whatsapp", "pinterest", "telegram", "weibo", "email", "other"}
	referrers   = []string{"", "www.linkedin.com", "t.co", "mail.google.com", "example.org"}
	countries   = []string{"", "US", "DE", "IN", "NP", "BR"}
	browsers    = []string{"Chrome", "Firefox", "Safari", "Edge"}
	systems     = []string{"Windows", "macOS", "Linux", "Android", "iOS"}
	devices     = []string{"desktop", "mobile", "tablet", "unknown"}
	bots        = []string{"no_user_agent", "crawler", "headless", "not_browser"}
)

// InsertEvents starts an insert into the events table; the column list
// must be explicit: 18.16 refuses a batch without one.
const InsertEvents = `INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
	url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)`

// rollupTables are the tables the materialized views fill from events.
var rollupTables = []string{"credential_daily", "totals_daily", "totals_15m", "group_daily", "group_15m", "traffic_daily", "traffic_15m", "credential_traffic_15m", "reach_15m"}

// insertSeed also names the arrival and its sharer, which Seed fills as
// ingest does (package arrival): a share under its own network and actor.
var insertSeed = strings.TrimSuffix(InsertEvents, ")") + ", arrived_from, shared_by)"

var arrivals = []string{"", "direct", "direct", "site", "web", "linkedin", "linkedin", "twitter", "facebook", "whatsapp", "email", "other"}

func pick[T any](r *rand.Rand, vs []T) T { return vs[r.IntN(len(vs))] }

// Seed inserts n random events (about one in ten a bot's) spread over the
// span before end, and waits until every rollup has them. It returns how
// many are people's.
func Seed(t testing.TB, conn driver.Conn, n int, seedValue uint64, end time.Time, span time.Duration) int {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seedValue, 7))
	// The arrivals draw from their own stream, which leaves the other
	// columns as they were before arrivals were recorded (golden answers).
	ra := rand.New(rand.NewPCG(seedValue, 11))
	b, err := conn.PrepareBatch(ctx, insertSeed)
	if err != nil {
		t.Fatal(err)
	}
	people := 0
	for range n {
		typ := pick(r, []string{"view", "view", "view", "view", "view", "share", "share", "download", "verify", "linkedin_add", "link_copy"})
		network := ""
		if typ == "share" {
			network = pick(r, networks)
		}
		actor := "guest"
		if r.IntN(5) == 0 {
			actor = "recipient"
		}
		bot, device := "", pick(r, devices)
		if r.IntN(10) == 0 {
			bot, device = pick(r, bots), "bot"
		} else {
			people++
		}
		arrived, sharer := pick(ra, arrivals), ""
		if slices.Contains(networks, arrived) {
			sharer = pick(ra, []string{"", "guest", "recipient"})
		}
		if typ == "share" {
			arrived, sharer = network, actor
		}
		at := end.Add(-time.Duration(r.Int64N(int64(span/time.Second))) * time.Second)
		cred := pick(r, credentials)
		err := b.Append(uuid.New(), at, cred, groups[len(cred)%len(groups)], typ, network, actor,
			pick(r, []string{"beacon", "beacon", "pixel", "api"}), uint64(r.IntN(400)),
			"certs.example.org", "/c/"+cred, pick(r, referrers), "/", pick(r, countries), pick(r, browsers), pick(r, systems), device, bot,
			arrived, sharer)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	Wait(t, conn)
	return people
}

// Wait waits until every rollup counts the events table's
// people: ClickHouse writes the materialized views after the table.
func Wait(t testing.TB, conn driver.Conn) {
	t.Helper()
	ctx := context.Background()
	var want uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM events WHERE bot_reason = ''").Scan(&want); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, table := range rollupTables {
		sum := "sum(events)"
		if table == "credential_daily" {
			sum = "countMerge(events)"
		}
		for {
			var got uint64
			if err := conn.QueryRow(ctx, "SELECT toUInt64("+sum+") FROM "+table).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s counts %d events, the events table %d", table, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
