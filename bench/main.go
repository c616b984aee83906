// Command bench is `make bench`: it measures the collector and the stats
// queries on this machine and prints every figure next to a baseline
// measured in the same run, since absolute numbers drift between runs.
// It writes the table as JSON too.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/aggregator/counters"
	"github.com/credstats/credstats/aggregator/query"
	beaconjs "github.com/credstats/credstats/beacon-js"
	"github.com/credstats/credstats/internal/dedup"
	"github.com/credstats/credstats/internal/loadgen"
	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/lifecycle"
)

// Row is one figure of the report.
type Row struct {
	Section  string  `json:"section"`
	Metric   string  `json:"metric"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Baseline float64 `json:"baseline,omitempty"` // the same measure of the reference, same run
	Ratio    float64 `json:"ratio,omitempty"`    // Value / Baseline
	Target   string  `json:"target,omitempty"`
	Met      *bool   `json:"met,omitempty"`
	// Now is the figure issue 13 started from, for the rows it set targets
	// for, so that a run shows how far each has come.
	Now string `json:"now,omitempty"`
}

type bench struct {
	root        string
	bin         string
	chPort      int
	chHTTP      int
	quick       bool
	load        time.Duration
	e2e         time.Duration
	sizes       []int
	rows        []Row
	started     []*exec.Cmd
	erase10m    bool
	onlyCluster bool
	onlyViews   bool
	onlyIngest  bool
	chName      string
}

func main() {
	b := &bench{}
	out := flag.String("out", "bench/results/latest.json", "where to write the figures as JSON")
	flag.IntVar(&b.chPort, "clickhouse-port", 19300, "the benchmark's ClickHouse (native port)")
	flag.IntVar(&b.chHTTP, "clickhouse-http", 18323, "the benchmark's ClickHouse (HTTP port)")
	flag.StringVar(&b.chName, "clickhouse-name", "bench", "the benchmark's ClickHouse instance of scripts/clickhouse.sh, whose pid the CPU figures read")
	flag.BoolVar(&b.quick, "quick", false, "short runs and 1M events only, to check the benchmark itself")
	huge := flag.Bool("100m", false, "also seed and query 100M events (slow, needs disk)")
	flag.BoolVar(&b.erase10m, "erase-10m", false, "also measure an erasure at 10M events (minutes)")
	flag.BoolVar(&b.onlyCluster, "only-cluster", false, "run only the cluster section (starts scripts/cluster.sh, stops it if it started it), to check it; writes to bench/results/cluster-only.json unless -out is given")
	flag.BoolVar(&b.onlyViews, "only-views", false, "run only the views section (ClickHouse CPU per event, per materialized view) against the running ClickHouse; writes to bench/results/views-only.json unless -out is given")
	flag.BoolVar(&b.onlyIngest, "only-ingest", false, "run only the ingest section (throughput, latency, end to end) against the running ClickHouse; writes to bench/results/ingest-only.json unless -out is given")
	flag.Parse()
	if b.onlyIngest && !flagSet("out") {
		*out = "bench/results/ingest-only.json"
	}
	if b.onlyCluster && !flagSet("out") {
		*out = "bench/results/cluster-only.json"
	}
	if b.onlyViews && !flagSet("out") {
		*out = "bench/results/views-only.json"
	}
	b.load, b.e2e, b.sizes = 10*time.Second, 60*time.Second, []int{1_000_000, 10_000_000}
	if b.quick {
		b.load, b.e2e, b.sizes = 3*time.Second, 5*time.Second, []int{1_000_000}
	}
	if *huge {
		b.sizes = append(b.sizes, 100_000_000)
	}
	run := b.run
	switch {
	case b.onlyCluster:
		run = b.runClusterOnly
	case b.onlyViews:
		run = b.runViewsOnly
	case b.onlyIngest:
		run = b.runIngestOnly
	}
	err := run()
	b.stopAll()
	b.print()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: stopped before the end:", err)
		os.Exit(1)
	}
	if err := b.write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (b *bench) run() error {
	if err := b.runIngestOnly(); err != nil {
		return err
	}
	dir := filepath.Join(b.root, ".local", "bench")
	if err := b.views(); err != nil {
		return err
	}
	if err := b.queries(); err != nil {
		return err
	}
	if err := b.access(dir); err != nil {
		return err
	}
	if err := b.lifecycle(dir); err != nil {
		return err
	}
	b.memory()
	b.beacon()
	b.cluster()
	return nil
}

// runIngestOnly builds credstats and the bare Fiber baseline, and runs the
// ingest section.
func (b *bench) runIngestOnly() error {
	wd, _ := os.Getwd()
	b.root = wd
	dir := filepath.Join(b.root, ".local", "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b.bin = filepath.Join(dir, "credstats")
	baseline := filepath.Join(dir, "baseline")
	step("building credstats and the bare Fiber baseline")
	if err := run("go", "build", "-o", b.bin, "./cmd/credstats"); err != nil {
		return err
	}
	if err := run("go", "build", "-o", baseline, "./bench/baseline"); err != nil {
		return err
	}
	return b.ingest(baseline, dir)
}

// ingest measures the collector's throughput and accept latency against the
// bare Fiber handler, with the spool on, off and without fsync, then the
// sustained rate into ClickHouse.
func (b *bench) ingest(baseline, dir string) error {
	const baseAddr, immutableAddr = "127.0.0.1:18901", "127.0.0.1:18905"
	if _, err := b.start(baseline, "--listen", baseAddr); err != nil {
		return err
	}
	if _, err := b.start(baseline, "--listen", immutableAddr, "--immutable"); err != nil {
		return err
	}
	type variant struct {
		name, addr string
		flags      []string
		db, dsn    string
		cmd        *exec.Cmd
	}
	variants := []*variant{
		{name: "spool on (default)", addr: "127.0.0.1:18902"},
		{name: "spool without fsync", addr: "127.0.0.1:18903", flags: []string{"--spool-no-sync"}},
		{name: "spool off (memory queue)", addr: "127.0.0.1:18904", flags: []string{"--spool=false"}},
		// Nothing listens on port 1: this collector only spools, and shows
		// the accept path without ClickHouse's inserts on the same cores.
		{name: "spool on, no ClickHouse on these cores (accept path alone)", addr: "127.0.0.1:18906", dsn: "clickhouse://127.0.0.1:1/credstats",
			flags: []string{"--log-level", "error"}}, // its warnings say ClickHouse is away, as intended
	}
	for i, v := range variants {
		if v.dsn == "" {
			v.db = fmt.Sprintf("bench_ingest_%d_%d", time.Now().Unix(), i)
			v.dsn = fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", b.chPort, v.db)
		}
		data := filepath.Join(dir, fmt.Sprintf("data%d", i))
		os.RemoveAll(data)
		args := append([]string{"serve", "--listen", v.addr, "--clickhouse", v.dsn, "--data-dir", data,
			"--trusted-proxies", "127.0.0.1", "--rate-limit", "-1", "--log-level", "warn"}, v.flags...)
		cmd, err := b.start(b.bin, args...)
		if err != nil {
			return err
		}
		v.cmd = cmd
	}
	addrs := []string{baseAddr, immutableAddr}
	for _, v := range variants {
		addrs = append(addrs, v.addr)
	}
	for _, addr := range addrs {
		if err := waitListening(addr, 30*time.Second); err != nil {
			return err
		}
	}
	const conns = 256
	traffic := loadgen.Options{Connections: conns, Duration: b.load, Duplicates: 0.1, Bots: 0.02}
	// Every run gets a seed of its own: a collector sent a run it has seen
	// would answer most of it as duplicates, which it does not store and
	// answers faster. The seeds are fixed, so bench runs repeat each other.
	// Every measured run starts once ClickHouse has done the inserts and
	// merges of the run before, so that no server pays for another's
	// events (the end-to-end run waits for that itself, before its clock).
	chPid := b.clickhousePid()
	var seed uint64
	aim := func(addr string, o loadgen.Options) loadgen.Options {
		seed++
		o.URL, o.Seed = "http://"+addr+"/api/event", seed
		return o
	}
	measure := func(addr string, o loadgen.Options) (loadgen.Result, error) {
		waitQuiet(chPid, time.Minute)
		return loadgen.Run(context.Background(), aim(addr, o))
	}

	// The target is set at 64 and at 256 connections: the spool's group
	// commit gathers fewer requests per fsync at 64.
	step("throughput at 64 connections: %s each, the bare handler then the collector", b.load)
	few := traffic
	few.Connections = 64
	base64, err := measure(baseAddr, few)
	if err != nil {
		return err
	}
	commits0 := commitsOf(variants[0].addr)
	got64, err := measure(variants[0].addr, few)
	if err != nil {
		return err
	}
	if bad := non2xx(got64); bad > 0 {
		return fmt.Errorf("the collector refused %d of %d requests under load: %v", bad, got64.Requests, got64.Status)
	}
	b.add(Row{Section: "ingest", Metric: "throughput, spool on, 64 connections", Value: got64.Throughput(), Unit: "req/s",
		Baseline: base64.Throughput(), Target: ">= 0.75 of baseline", Now: "0.55 (quiet), 0.26 (busy)"}, got64.Throughput() >= 0.75*base64.Throughput())
	b.addCommits("64 connections", commitsOf(variants[0].addr).minus(commits0), got64.Elapsed)
	// Without the sync each request waits for, what is left is CPU.
	nosync64, err := measure(variants[1].addr, few)
	if err != nil {
		return err
	}
	b.add(Row{Section: "ingest", Metric: "throughput, spool without fsync, 64 connections", Value: nosync64.Throughput(), Unit: "req/s", Baseline: base64.Throughput()}, true)

	step("throughput: %s each, %d connections, the same generated traffic", b.load, conns)
	base, err := measure(baseAddr, traffic)
	if err != nil {
		return err
	}
	// credstats runs Fiber with Immutable (every request string a copy, so
	// none changes under a cache or goroutine that keeps it): its cost is
	// the bare handler's in that mode against the default.
	immutable, err := measure(immutableAddr, traffic)
	if err != nil {
		return err
	}
	b.add(Row{Section: "ingest", Metric: "throughput, bare Fiber with Immutable", Value: immutable.Throughput(), Unit: "req/s", Baseline: base.Throughput()}, true)
	var capacity float64 // the collector's, spool on
	for i, v := range variants {
		var rss int64
		stopRSS := sampleRSS(v.cmd.Process.Pid, &rss)
		commits0 := commitsOf(v.addr)
		got, err := measure(v.addr, traffic)
		stopRSS()
		if err != nil {
			return err
		}
		if bad := non2xx(got); bad > 0 {
			return fmt.Errorf("the collector (%s) refused %d of %d requests under load: %v", v.name, bad, got.Requests, got.Status)
		}
		row := Row{Section: "ingest", Metric: fmt.Sprintf("throughput, %s, %d connections", v.name, conns), Value: got.Throughput(), Unit: "req/s", Baseline: base.Throughput()}
		met := true
		switch i {
		case 0:
			capacity = got.Throughput()
			row.Target, row.Now, met = ">= 0.75 of baseline", "0.79 (quiet), 0.37 (busy)", got.Throughput() >= 0.75*base.Throughput()
			b.add(Row{Section: "memory", Metric: "collector RSS under load", Value: float64(rss) / (1 << 20), Unit: "MiB"}, true)
		case 2:
			row.Now = "0.60 (busy)"
		}
		b.add(row, met)
		if i == 0 {
			b.addCommits(fmt.Sprintf("%d connections", conns), commitsOf(v.addr).minus(commits0), got.Elapsed)
		}
	}
	coll := variants[0]

	// Latency is the accept path's, not a queue's: both servers get the
	// same arrival rate, half of what the collector could answer above.
	rate := capacity / 2
	step("accept latency: open model at %.0f req/s (half the collector's capacity): the bare handler, the collector, the collector without ClickHouse", rate)
	open := traffic
	open.Rate = rate
	baseLat, err := measure(baseAddr, open)
	if err != nil {
		return err
	}
	lat, err := measure(coll.addr, open)
	if err != nil {
		return err
	}
	alone, err := measure(variants[3].addr, open)
	if err != nil {
		return err
	}
	for _, p := range []float64{50, 99, 99.9} {
		row := Row{Section: "ingest", Metric: fmt.Sprintf("accept latency p%g", p), Value: ms(lat.Percentile(p)),
			Unit: "ms", Baseline: ms(baseLat.Percentile(p))}
		met := true
		if p == 99 {
			row.Target, met = "<= 2x baseline", lat.Percentile(p) <= 2*baseLat.Percentile(p)
		}
		b.add(row, met)
	}
	b.add(Row{Section: "ingest", Metric: "accept latency p99, " + variants[3].name, Value: ms(alone.Percentile(99)), Unit: "ms", Baseline: ms(baseLat.Percentile(99))}, true)

	// The end-to-end run has the machine to itself: the baselines and the
	// other variants stop, and ClickHouse finishes the inserts and merges
	// the earlier runs left it, so that its CPU counts this run's events only.
	step("end to end: stopping the other servers, waiting for ClickHouse to go quiet")
	var others []*exec.Cmd
	for _, cmd := range b.started {
		if cmd != coll.cmd {
			others = append(others, cmd)
		}
	}
	b.stop(others...)
	waitDrained(coll.addr, 5*time.Minute)
	waitQuiet(chPid, 3*time.Minute)

	step("end to end: %s of load, counting what reaches ClickHouse", b.e2e)
	conn, err := store.Open(context.Background(), coll.dsn, store.Options{})
	if err != nil {
		return err
	}
	defer conn.Close()
	before := count(conn, "events")
	chCPU0, ownCPU0 := cpuTicks(chPid), cpuTicks(coll.cmd.Process.Pid)
	batches0, rows0 := batchMetrics(coll.addr)
	e2e := traffic
	e2e.Duration, e2e.Duplicates, e2e.Bots = b.e2e, 0, 0
	var e2eRSS int64
	stopRSS := sampleRSS(coll.cmd.Process.Pid, &e2eRSS)
	start := time.Now()
	res, err := loadgen.Run(context.Background(), aim(coll.addr, e2e))
	if err != nil {
		stopRSS()
		return err
	}
	// Sustained means stored: the rate counts from the first request
	// until the last accepted event is in ClickHouse, so a writer that
	// falls behind during the run pays for its backlog afterwards.
	drained := waitDrained(coll.addr, 5*time.Minute)
	stopRSS()
	stored := count(conn, "events") - before
	took := drained.Sub(start).Seconds()
	chCPU, ownCPU := cpuTicks(chPid)-chCPU0, cpuTicks(coll.cmd.Process.Pid)-ownCPU0
	// ClickHouse's merges of this run's parts come after the inserts; they
	// are part of what an event costs it.
	waitQuiet(chPid, 3*time.Minute)
	chCPU = cpuTicks(chPid) - chCPU0
	elapsed := time.Since(start).Seconds()
	b.add(Row{Section: "memory", Metric: "collector RSS, end to end (batches of --batch-size)", Value: float64(e2eRSS) / (1 << 20), Unit: "MiB"}, true)
	hz := 100.0 // USER_HZ on Linux
	sustained := float64(stored) / took
	b.add(Row{Section: "ingest", Metric: fmt.Sprintf("events into ClickHouse, %s of load, until the last is stored, load generator on the same cores", b.e2e), Value: sustained,
		Unit: "events/s", Target: ">= 40000", Now: "20-22k"}, sustained >= 40_000)
	b.add(Row{Section: "ingest", Metric: "end to end: answered 202 during the load (repeats within 24 h included, not stored)", Value: float64(res.Status[202]) / res.Elapsed.Seconds(), Unit: "events/s"}, true)
	b.add(Row{Section: "ingest", Metric: "end to end: last event stored after the load ended", Value: drained.Sub(start.Add(res.Elapsed)).Seconds(), Unit: "s"}, true)
	batches, rows := batchMetrics(coll.addr)
	if batches > batches0 {
		perInsert := (rows - rows0) / (batches - batches0)
		b.add(Row{Section: "ingest", Metric: "rows per INSERT, sustained", Value: perInsert, Unit: "rows", Target: ">= 7500", Now: "1,000-1,300"}, perInsert >= 7500)
	}
	if stored > 0 {
		accepted := float64(res.Status[202])
		perAccepted := 1e6 * float64(ownCPU) / hz / max(accepted, 1)
		b.add(Row{Section: "ingest", Metric: "collector CPU per accepted event, spool on", Value: perAccepted, Unit: "us", Target: "<= 16", Now: "26-30"}, perAccepted <= 16)
		// From /proc: the server's user and system time from the first
		// request until its merges are done, all its threads (inserts, the
		// views' rollups, merges) included.
		perStored := 1e6 * float64(chCPU) / hz / float64(stored)
		b.add(Row{Section: "ingest", Metric: "ClickHouse CPU per stored event, all rollups, merges included", Value: perStored, Unit: "us", Target: "<= 8", Now: "20-24"}, perStored <= 8)
	}
	b.add(Row{Section: "ingest", Metric: "ClickHouse CPU share", Value: 100 * float64(chCPU) / hz / elapsed / float64(runtime.NumCPU()), Unit: "% of machine"}, true)
	b.add(Row{Section: "ingest", Metric: "collector CPU share", Value: 100 * float64(ownCPU) / hz / took / float64(runtime.NumCPU()), Unit: "% of machine"}, true)
	b.stopAll()
	for _, v := range variants {
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+v.db)
	}
	return nil
}

// queries seeds events and times the stats queries over rollups and the
// same over raw events.
func (b *bench) queries() error {
	for _, n := range b.sizes {
		db := fmt.Sprintf("bench_q%dm", n/1_000_000)
		dsn := fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", b.chPort, db)
		if err := run(b.bin, "migrate", "--clickhouse", dsn); err != nil {
			return err
		}
		// Seeding inserts millions of rows through every rollup's view in
		// one statement: more than the client's default read timeout on a
		// busy machine.
		conn, err := store.Open(context.Background(), dsn+"?read_timeout=1h", store.Options{})
		if err != nil {
			return err
		}
		if have := count(conn, "events"); have != uint64(n) {
			step("seeding %d events into %s (kept for later runs)", n, db)
			if err := seed(conn, n); err != nil {
				conn.Close()
				return err
			}
		}
		label := fmt.Sprintf("%dM events", n/1_000_000)
		// The server's keeper merges the views rollups' months at start
		// and every hour (lifecycle.CompactViews); the queries are timed
		// as they run on a server that has made that pass.
		start := time.Now()
		merged, err := lifecycle.CompactViews(context.Background(), conn)
		if err != nil {
			conn.Close()
			return err
		}
		took := time.Since(start)
		step("%s: the keeper's pass merged %v in %s", db, merged, took.Round(time.Millisecond))
		b.add(Row{Section: "queries " + label, Metric: "keeper's pass over the views rollups (months merged: " + strconv.Itoa(len(merged)) + ")", Value: took.Seconds(), Unit: "s"}, true)
		engine := query.NewEngine(conn, time.Now)
		for _, q := range benchQueries {
			ask := func() error { _, err := engine.Run(context.Background(), q.query); return err }
			if q.counters {
				// The public counters' own query, without their cache.
				store := counters.Store{Conn: conn}
				ask = func() error { _, err := store.CredentialStats(context.Background(), hotCredential); return err }
			}
			p50, p95, err := timeIt(ask)
			if err != nil {
				conn.Close()
				return fmt.Errorf("%s: %w", q.name, err)
			}
			raw50, raw95, err := timeIt(func() error { return drain(conn, q.raw, q.args...) })
			if err != nil {
				conn.Close()
				return fmt.Errorf("%s over raw events: %w", q.name, err)
			}
			row := Row{Section: "queries " + label, Metric: q.name + " p50", Value: ms(p50), Unit: "ms", Baseline: ms(raw50)}
			b.add(row, true)
			row = Row{Section: "queries " + label, Metric: q.name + " p95", Value: ms(p95), Unit: "ms", Baseline: ms(raw95)}
			met := true
			if t, ok := q.targets[n]; ok {
				row.Target, row.Now, met = fmt.Sprintf("<= %d ms", t.target.Milliseconds()), t.now, p95 <= t.target
			}
			b.add(row, met)
		}
		// At 100M each of the registry's 66 queries takes seconds: its rows
		// are for 1M and 10M.
		if n <= 10_000_000 {
			if err := b.registry(conn, label); err != nil {
				conn.Close()
				return err
			}
		}
		conn.Close()
		if n == 10_000_000 || b.quick {
			if err := b.overview(dsn, label); err != nil {
				return err
			}
		}
	}
	return nil
}

// The credential the query benchmarks ask about is the busiest one.
const hotCredential = "cred-0"

// target is a query's p95 target at one size, and where issue 13 found it.
type target struct {
	target time.Duration
	now    string
}

// The rollup side of each benchmark goes through the aggregator's engine,
// as the API and the dashboard do, or the public counters' store; the
// baseline is the same answer computed over raw events.
var benchQueries = []struct {
	name     string
	query    query.Query
	counters bool // counters.Store.CredentialStats instead of query
	raw      string
	args     []any
	targets  map[int]target
}{
	{
		name:     "per-credential counters, uncached",
		counters: true,
		raw:      `SELECT toString(actor), toString(type), toString(network), count(), uniq(visitor) FROM events WHERE credential = ? AND bot_reason = '' GROUP BY actor, type, network`,
		args:     []any{hotCredential},
		targets:  map[int]target{10_000_000: {5 * time.Millisecond, "13.9 ms"}},
	},
	{
		name:    "30-day daily series with unique viewers",
		query:   query.Query{Metrics: []string{"views", "unique_viewers"}, Dimensions: []string{"time:day"}, DateRange: query.DateRange{Preset: "30d"}},
		raw:     `SELECT toDate(time) AS day, countIf(type = 'view'), uniqIf(visitor, type = 'view') FROM events WHERE time >= toDateTime(today() - 29) AND bot_reason = '' GROUP BY day ORDER BY day`,
		targets: map[int]target{10_000_000: {50 * time.Millisecond, "479 ms"}, 100_000_000: {150 * time.Millisecond, "-"}},
	},
	{
		name:  "network breakdown, 30 days",
		query: query.Query{Metrics: []string{"shares"}, Dimensions: []string{"network"}, DateRange: query.DateRange{Preset: "30d"}},
		raw:   `SELECT toString(network), count() FROM events WHERE time >= toDateTime(today() - 29) AND type = 'share' AND bot_reason = '' GROUP BY network`,
	},
}

// seed inserts n events spread over the last 30 days with a long tail of
// credentials: half the events go to 1% of them.
func seed(conn driver.Conn, n int) error {
	ctx := context.Background()
	if err := conn.Exec(ctx, "TRUNCATE TABLE events"); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree' AND name NOT IN ('events', 'schema_migrations', 'api_keys', 'share_links')")
	if err != nil {
		return err
	}
	var rollups []string
	for rows.Next() {
		var t string
		rows.Scan(&t)
		rollups = append(rollups, t)
	}
	rows.Close()
	for _, t := range rollups {
		if err := conn.Exec(ctx, "TRUNCATE TABLE "+t); err != nil {
			return err
		}
	}
	const chunk = 2_000_000
	for off := 0; off < n; off += chunk {
		size := min(chunk, n-off)
		err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
			url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)
		SELECT
			generateUUIDv4(),
			now() - (intHash32(number) %% (30 * 86400)),
			concat('cred-', toString(if(number %% 2 = 0, intHash32(number) %% 1000, intHash32(number) %% 100000))),
			concat('program-', toString(intHash32(number) %% 50)),
			[1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4, 5, 6][(number %% 13) + 1],
			if((number %% 13) IN (7, 8), (intHash32(number + 1) %% 10) + 1, 0),
			if(number %% 5 = 0, 2, 1),
			1,
			intHash64(number %% 500000),
			'certs.example.org', '/c/x', 'www.linkedin.com', '/feed/', 'DE', 'Chrome', 'Windows', 1,
			if(number %% 50 = 0, 2, 0)
		FROM numbers(%d, %d)`, off, size))
		if err != nil {
			return fmt.Errorf("cannot seed events: %w", err)
		}
	}
	return nil
}

// timeIt runs f 30 times after 3 warm-ups and returns the p50 and p95.
func timeIt(f func() error) (p50, p95 time.Duration, err error) {
	const runs = 30
	var ds []time.Duration
	for i := 0; i < runs+3; i++ {
		start := time.Now()
		if err := f(); err != nil {
			return 0, 0, err
		}
		if i >= 3 {
			ds = append(ds, time.Since(start))
		}
	}
	slices.Sort(ds)
	r := loadgen.Result{Latencies: ds}
	return r.Percentile(50), r.Percentile(95), nil
}

// drain runs a query and reads every row.
func drain(conn driver.Conn, sql string, args ...any) error {
	rows, err := conn.Query(context.Background(), sql, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	rows.Close()
	return rows.Err()
}

// memory measures the dedup set's bytes per live key when full.
func (b *bench) memory() {
	for _, n := range []int{1_000_000, 10_000_000} {
		if b.quick && n > 1_000_000 {
			continue
		}
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		s := dedup.New(dedup.Options{MaxKeys: n})
		now := time.Now()
		x := uint64(0x9e3779b97f4a7c15)
		for i := 0; i < n; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			s.Seen(x, now)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		perKey := float64(m1.HeapAlloc-m0.HeapAlloc) / float64(s.Len())
		b.add(Row{Section: "memory", Metric: fmt.Sprintf("dedup bytes per live key, %dM keys", n/1_000_000),
			Value: perKey, Unit: "bytes", Target: "<= 40"}, perKey <= 40)
		runtime.KeepAlive(s)
	}
}

func (b *bench) beacon() {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(beaconjs.Script)
	zw.Close()
	b.add(Row{Section: "beacon", Metric: "size raw", Value: float64(len(beaconjs.Script)), Unit: "bytes"}, true)
	b.add(Row{Section: "beacon", Metric: "size gzipped", Value: float64(buf.Len()), Unit: "bytes", Target: "<= 1000"}, buf.Len() <= 1000)
}

func (b *bench) add(r Row, met bool) {
	if r.Baseline > 0 {
		r.Ratio = r.Value / r.Baseline
	}
	if r.Target != "" {
		r.Met = &met
	}
	b.rows = append(b.rows, r)
}

func (b *bench) print() {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nSECTION\tMETRIC\tVALUE\tBASELINE\tRATIO\tTARGET\tNOW (issue 13)\t")
	for _, r := range b.rows {
		base, ratio, target := "", "", r.Target
		if r.Baseline > 0 {
			base, ratio = num(r.Baseline)+" "+r.Unit, fmt.Sprintf("%.2f", r.Ratio)
		}
		if r.Met != nil {
			target += map[bool]string{true: "  met", false: "  MISSED"}[*r.Met]
		}
		fmt.Fprintf(w, "%s\t%s\t%s %s\t%s\t%s\t%s\t%s\t\n", r.Section, r.Metric, num(r.Value), r.Unit, base, ratio, target, r.Now)
	}
	w.Flush()
}

func (b *bench) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	out, err := json.MarshalIndent(map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339), "cpus": runtime.NumCPU(), "go": runtime.Version(), "rows": b.rows,
	}, "", "  ")
	if err != nil {
		return err
	}
	fmt.Printf("\nwritten to %s\n", path)
	return os.WriteFile(path, append(out, '\n'), 0o644)
}

func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func step(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }

func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

func (b *bench) start(name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", name, err)
	}
	b.started = append(b.started, cmd)
	return cmd, nil
}

func (b *bench) stopAll() { b.stop(slices.Clone(b.started)...) }

// stop ends some of the processes the bench started: SIGTERM, then SIGKILL
// after 15 s.
func (b *bench) stop(cmds ...*exec.Cmd) {
	for _, cmd := range cmds {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
		}
	}
	b.started = slices.DeleteFunc(b.started, func(c *exec.Cmd) bool { return slices.Contains(cmds, c) })
}

func waitListening(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s after %s", addr, limit)
}

func non2xx(r loadgen.Result) int64 {
	bad := r.Errors
	for code, n := range r.Status {
		if code < 200 || code > 299 {
			bad += n
		}
	}
	return bad
}

func count(conn driver.Conn, table string) uint64 {
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+table).Scan(&n); err != nil {
		return 0
	}
	return n
}

// waitDrained waits until the collector at addr has written everything in
// its spool to ClickHouse, at most limit, and returns when it saw that.
func waitDrained(addr string, limit time.Duration) time.Time {
	deadline := time.Now().Add(limit)
	for {
		m := metrics(addr)
		if v, ok := m["credstats_spool_unwritten_bytes"]; ok && v == 0 || time.Now().After(deadline) {
			return time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitQuiet waits until the process has used less than a tenth of a core
// for two seconds (ClickHouse has done the inserts and merges it was given),
// at most limit.
func waitQuiet(pid int, limit time.Duration) {
	const window, hz = 2 * time.Second, 100
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		t0 := cpuTicks(pid)
		time.Sleep(window)
		if float64(cpuTicks(pid)-t0)/hz < 0.1*window.Seconds() {
			return
		}
	}
}

func (b *bench) clickhousePid() int {
	raw, err := os.ReadFile(filepath.Join(b.root, ".local", "clickhouse", b.chName, "pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	return pid
}

// cpuTicks is a process's user plus system time in clock ticks.
func cpuTicks(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	user, _ := strconv.ParseInt(fields[11], 10, 64)
	sys, _ := strconv.ParseInt(fields[12], 10, 64)
	return user + sys
}

// sampleRSS records the highest resident set size of pid until stopped.
func sampleRSS(pid int, peak *int64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				for _, line := range strings.Split(string(raw), "\n") {
					if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
						kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
						*peak = max(*peak, kb<<10)
					}
				}
			}
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}

// batchMetrics reads how many batches the collector has written to
// ClickHouse and how many rows they held, from its /metrics.
func batchMetrics(addr string) (batches, rows float64) {
	m := metrics(addr)
	return m["credstats_batch_size_count"], m["credstats_batch_size_sum"]
}

// commitStats are the spool's group-commit counters of a collector.
type commitStats struct{ commits, appends, seconds float64 }

func commitsOf(addr string) commitStats {
	m := metrics(addr)
	return commitStats{m["credstats_spool_commits_total"], m["credstats_spool_committed_appends_total"], m["credstats_spool_commit_seconds_total"]}
}

func (c commitStats) minus(o commitStats) commitStats {
	return commitStats{c.commits - o.commits, c.appends - o.appends, c.seconds - o.seconds}
}

// addCommits says how the default collector's group commits went during a
// run: how many requests shared a sync, and how long one took. A request
// waits for the commit under way when it arrives and then its own.
func (b *bench) addCommits(run string, c commitStats, took time.Duration) {
	if c.commits <= 0 {
		return
	}
	b.add(Row{Section: "ingest", Metric: "spool group commits, " + run + ": requests per commit", Value: c.appends / c.commits, Unit: "requests"}, true)
	b.add(Row{Section: "ingest", Metric: "spool group commits, " + run + ": time per commit (write and fdatasync)", Value: 1e6 * c.seconds / c.commits, Unit: "us"}, true)
	b.add(Row{Section: "ingest", Metric: "spool group commits, " + run + ": share of the run spent committing", Value: 100 * c.seconds / took.Seconds(), Unit: "%"}, true)
}

// metrics reads the collector's unlabelled series from its /metrics.
func metrics(addr string) map[string]float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		name, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		if v, err := strconv.ParseFloat(value, 64); err == nil && !strings.HasPrefix(name, "#") {
			m[name] = v
		}
	}
	return m
}
