package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"

	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/schema"
)

// views measures what ClickHouse spends per stored event on the events
// table and on each materialized view that feeds a rollup from it (issue
// 13). Every setup gets a fresh database migrated to the latest schema,
// keeps the views it names and drops the others, then receives the same
// generated events in blocks of viewsBlock rows, written as the
// collector writes them (collector.ClickHouseSink); the figure is the
// server process's user and system time (/proc) from the first insert
// until its background merges have settled, divided by the events. A
// view's cost is what the events table with that view alone takes beyond
// the events table alone; the views one at a time are measured only with
// -only-views.
func (b *bench) views() error {
	ctx := context.Background()
	n := 400_000
	if b.quick {
		n = 200_000
	}
	pid := b.clickhousePid()
	if pid == 0 {
		return fmt.Errorf("cannot find the pid of ClickHouse %q (.local/clickhouse/%[1]s/pid): start it with scripts/clickhouse.sh ensure %[1]s PORT HTTP_PORT", b.chName)
	}
	step("views: generating %d events in blocks of %d", n, viewsBlock)
	batches := viewEvents(n)

	// The views of the latest schema, from a database migrated for it.
	all, err := b.viewsDatabase(ctx, "bench_views_list", []string{})
	if err != nil {
		return err
	}
	if err := b.dropDatabase(ctx, "bench_views_list"); err != nil {
		return err
	}
	type setup struct {
		name string
		keep []string
	}
	setups := []setup{{name: "events only"}, {name: "all views", keep: all}}
	if b.onlyViews {
		// Each view alone: a dozen more runs, so only in -only-views.
		for _, v := range all {
			setups = append(setups, setup{name: v, keep: []string{v}})
		}
	}

	// A first run, not counted, warms the server (its allocator takes
	// memory from the system then, in system time); then every setup runs
	// runs times, in turn, and keeps its least CPU time: what other work
	// on the machine adds to a run (caches, shared cores) only adds.
	step("views: a warm-up run with all views")
	if _, err := b.viewsRun(ctx, "bench_views_warmup", all, batches, pid); err != nil {
		return err
	}
	runs := 3
	if b.quick {
		runs = 1
	}
	perEvent := map[string]float64{}
	for r := range runs {
		for i, s := range setups {
			step("views: run %d of %d: %s", r+1, runs, s.name)
			us, err := b.viewsRun(ctx, fmt.Sprintf("bench_views_%d", i), s.keep, batches, pid)
			if err != nil {
				return err
			}
			if have, ok := perEvent[s.name]; !ok || us < have {
				perEvent[s.name] = us
			}
		}
	}
	base := perEvent["events only"]
	add := func(metric string, us float64) {
		b.add(Row{Section: "views", Metric: metric, Value: us, Unit: "us", Baseline: base}, true)
	}
	add("ClickHouse CPU per event, events only", base)
	allViews := perEvent["all views"]
	// Issue 13's target is the ingest section's row, on the load
	// generator's events; these events, every dimension drawn apart and a
	// tail of two million credentials, give the views more rows to write.
	add("ClickHouse CPU per event, all views", allViews)
	if !b.onlyViews {
		return nil
	}
	var sum float64
	for _, v := range all {
		cost := perEvent[v] - base
		sum += cost
		add("added by "+v+" (alone with events)", cost)
	}
	add("added by the views one at a time, summed", sum)
	return nil
}

// viewsBlock is the rows a batch holds: about what the collector sends
// under sustained load.
const viewsBlock = 20_000

// viewsRun migrates a fresh database db, keeps the views named in keep,
// inserts the batches and returns the server's CPU time per event in us.
func (b *bench) viewsRun(ctx context.Context, db string, keep []string, batches []collector.Batch, pid int) (float64, error) {
	if _, err := b.viewsDatabase(ctx, db, keep); err != nil {
		return 0, err
	}
	conn, err := store.Open(ctx, fmt.Sprintf("clickhouse://127.0.0.1:%d/%s?read_timeout=10m", b.chPort, db), store.Options{})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	settle(conn)
	sink := collector.ClickHouseSink{Conn: conn}
	events := 0
	cpu0 := cpuTicks(pid)
	for _, batch := range batches {
		if err := sink.Write(ctx, batch); err != nil {
			return 0, err
		}
		events += len(batch.Events)
	}
	settle(conn)
	cpu := cpuTicks(pid) - cpu0
	if got := count(conn, "events"); got != uint64(events) {
		return 0, fmt.Errorf("%s holds %d events, want %d", db, got, events)
	}
	if err := b.dropDatabase(ctx, db); err != nil {
		return 0, err
	}
	const hz = 100.0 // USER_HZ on Linux
	return 1e6 * float64(cpu) / hz / float64(events), nil
}

// runViewsOnly is -only-views: the views section alone, against the
// ClickHouse already running.
func (b *bench) runViewsOnly() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	b.root = wd
	return b.views()
}

func (b *bench) dropDatabase(ctx context.Context, db string) error {
	conn, err := store.Open(ctx, fmt.Sprintf("clickhouse://127.0.0.1:%d/default", b.chPort), store.Options{})
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db)
}

// viewsDatabase creates db afresh, migrated to the latest schema, and
// drops the materialized views not in keep. It returns the views the
// schema had.
func (b *bench) viewsDatabase(ctx context.Context, db string, keep []string) ([]string, error) {
	dsn := fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", b.chPort, db)
	if err := b.dropDatabase(ctx, db); err != nil {
		return nil, err
	}
	if err := store.EnsureDatabase(ctx, dsn); err != nil {
		return nil, err
	}
	conn, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, _, err := schema.Migrate(ctx, conn, schema.Options{DSN: dsn}); err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine = 'MaterializedView' ORDER BY name")
	if err != nil {
		return nil, err
	}
	var views []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, err
		}
		views = append(views, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, v := range views {
		if !slices.Contains(keep, v) {
			if err := conn.Exec(ctx, "DROP TABLE "+v); err != nil {
				return nil, err
			}
		}
	}
	return views, nil
}

// settle waits until the server merges nothing and its CPU time stays
// flat for a second, at most a minute.
func settle(conn driver.Conn) {
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	quiet := 0
	for time.Now().Before(deadline) && quiet < 4 {
		time.Sleep(250 * time.Millisecond)
		var merges uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.merges").Scan(&merges); err != nil || merges > 0 {
			quiet = 0
			continue
		}
		quiet++
	}
	time.Sleep(500 * time.Millisecond)
}

// viewEvents generates n events, the same in every run, in batches of
// viewsBlock: a long tail of credentials (a fifth of the events go to 2,000
// popular ones, the rest to two million that see a handful of events
// each), so that the per-credential quarter-hour rollups get about a row
// an event, as in real data; a day of traffic; the type mix of
// internal/loadgen; countries, browsers, systems and referrers with a few
// common values and a tail; 2% bots.
func viewEvents(n int) []collector.Batch {
	rng := rand.New(rand.NewPCG(13, 13))
	hot := rand.NewZipf(rng, 1.1, 1, 1999)
	pick := func(values []string) string {
		// The first values are the common ones.
		i := min(int(rng.ExpFloat64()*float64(len(values))/4), len(values)-1)
		return values[i]
	}
	countries := []string{"US", "DE", "GB", "IN", "FR", "NL", "CA", "ES", "IT", "BR", "AU", "PL", "SE", "CH", "BE", "AT", "IE", "DK", "NO", "FI",
		"PT", "MX", "JP", "SG", "ZA", "NG", "KE", "EG", "TR", "AE", "SA", "PK", "BD", "PH", "ID", "VN", "AR", "CL", "CO", ""}
	browsers := []string{"Chrome", "Safari", "Edge", "Firefox", "Samsung Internet", "Opera", "LinkedIn", "Chrome Mobile WebView", ""}
	oses := []string{"Windows", "Android", "iOS", "macOS", "Linux", "Chrome OS", ""}
	referrers := []string{"", "www.linkedin.com", "lnkd.in", "www.google.com", "t.co", "www.facebook.com", "l.facebook.com", "mail.google.com",
		"outlook.live.com", "teams.microsoft.com", "web.whatsapp.com", "www.bing.com", "duckduckgo.com", "m.facebook.com", "x.com",
		"www.reddit.com", "news.ycombinator.com", "slack.com", "www.indeed.com", "www.xing.com", "github.com", "medium.com"}
	for i := range 30 {
		referrers = append(referrers, "intranet"+strconv.Itoa(i)+".example.com")
	}
	hosts := []string{"certs.example.org", "badges.example.com", "credentials.example.net"}
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	step := 24 * time.Hour / time.Duration(n)

	var batches []collector.Batch
	var events []event.Event
	for i := range n {
		var cred string
		if rng.Float64() < 0.2 {
			cred = "cred-hot-" + strconv.FormatUint(hot.Uint64(), 36)
		} else {
			cred = "cred-" + strconv.FormatUint(rng.Uint64N(2_000_000), 36)
		}
		credHash := uint64(0)
		for _, c := range []byte(cred) {
			credHash = credHash*31 + uint64(c)
		}
		e := event.Event{
			Time:       start.Add(time.Duration(i) * step),
			Credential: cred,
			Group:      "program-" + strconv.FormatUint(credHash%300, 10),
			Type:       event.View,
			Actor:      event.Guest,
			Source:     event.Beacon,
			URLHost:    hosts[credHash%uint64(len(hosts))],
			URLPath:    "/c/" + cred,
			Visitor:    rng.Uint64N(300_000)*0x9E3779B97F4A7C15 + 1,
			Country:    pick(countries),
			Browser:    pick(browsers),
			OS:         pick(oses),
			Device:     event.Desktop,
		}
		var id [16]byte
		for j := range id {
			id[j] = byte(rng.Uint32())
		}
		e.ID = uuid.UUID(id)
		switch x := rng.Float64(); {
		case x < 0.70:
		case x < 0.85:
			e.Type, e.Network = event.Share, event.Network(1+rng.IntN(int(event.Other)))
		case x < 0.92:
			e.Type = event.Download
		case x < 0.96:
			e.Type = event.LinkedInAdd
		case x < 0.98:
			e.Type = event.LinkCopy
		default:
			e.Type = event.Verify
		}
		if rng.Float64() < 0.2 {
			e.Actor = event.Recipient
		}
		switch x := rng.Float64(); {
		case x < 0.03:
			e.Source, e.Visitor = event.API, 0
		case x < 0.10:
			e.Source = event.Pixel
		}
		if rng.Float64() < 0.4 {
			e.Device = event.Mobile
		}
		if e.ReferrerHost = pick(referrers); e.ReferrerHost != "" {
			e.ReferrerPath = "/"
		}
		if e.Type == event.View {
			switch x := rng.Float64(); {
			case x < 0.3:
				e.ArrivedFrom = event.Arrival(event.LinkedIn)
				if rng.Float64() < 0.5 {
					e.SharedBy = event.Recipient
				}
			case x < 0.6:
				e.ArrivedFrom = event.Direct
			case x < 0.8:
				e.ArrivedFrom = event.Web
			}
		}
		if rng.Float64() < 0.02 {
			e.Bot, e.Device, e.Browser, e.Visitor = event.Crawler, event.DeviceBot, "Googlebot", rng.Uint64()
		}
		events = append(events, e)
		if len(events) == viewsBlock || i == n-1 {
			batches = append(batches, collector.Batch{ID: uint64(len(batches) + 1), Events: events})
			events = nil
		}
	}
	return batches
}
