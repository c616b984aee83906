package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"

	"github.com/credstats/credstats/aggregator/counters"
	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/loadgen"
	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/schema"
)

// The loopback cluster of scripts/cluster.sh: two shards of two replicas,
// ch1 and ch2 on shard 1, ch3 and ch4 on shard 2.
const (
	clusterName  = "credstats"
	clusterBatch = 50_000 // the writer's default batch size
)

var clusterPorts = []int{19401, 19402, 19403, 19404}

// cluster measures the cluster against the bench's single server with the
// same events, written and read the same way: the collector's ClickHouse
// sink writing 50,000-event batches (through the Distributed tables, with
// synchronous distributed inserts, on the cluster), then a credential's
// public counters and a 30-day daily series with unique viewers. It never
// fails the bench: when the cluster cannot start or a step fails, it says
// so and the bench goes on.
func (b *bench) cluster() {
	script := filepath.Join(b.root, "scripts", "cluster.sh")
	status, _ := clusterScript(script, time.Minute, "status")
	wasDown := !strings.Contains(strings.ReplaceAll(string(status), "not running", ""), "running")
	if wasDown {
		defer func() {
			if out, err := clusterScript(script, 2*time.Minute, "stop"); err != nil {
				step("cluster: cannot stop the cluster this run started: %v: %s", err, lastLine(out))
			}
		}()
	}
	// A server of 18.16 that takes an ON CLUSTER statement right after its
	// start can crash (a null ZooKeeper session in its DDL worker): wait
	// (waitZooKeeper), and should a server die all the same, start it again
	// (start starts only what is not running) and measure once more.
	for attempt := 1; ; attempt++ {
		step("cluster: starting the loopback cluster (scripts/cluster.sh start)")
		// The first start may install packages: minutes, but not many.
		if out, err := clusterScript(script, 6*time.Minute, "start"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: cluster section skipped: scripts/cluster.sh start: %v: %s\n", err, lastLine(out))
			return
		}
		rows := len(b.rows)
		err := waitZooKeeper()
		if err == nil {
			err = b.measureCluster()
		}
		if err == nil {
			return
		}
		b.rows = b.rows[:rows]
		if attempt == 2 {
			fmt.Fprintf(os.Stderr, "bench: cluster section skipped: %v\n", err)
			return
		}
		step("cluster: %v; once more", err)
	}
}

// clusterScript runs scripts/cluster.sh, and kills it (with what it runs in
// the foreground; the servers it starts have their own sessions) when it
// takes longer than limit.
func clusterScript(script string, limit time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("did not finish within %s", limit)
	}
	return out, err
}

// runClusterOnly is --only-cluster: the cluster section alone, to check it.
func (b *bench) runClusterOnly() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	b.root = wd
	b.bin = filepath.Join(b.root, ".local", "bench", "credstats")
	step("building credstats")
	if err := run("go", "build", "-o", b.bin, "./cmd/credstats"); err != nil {
		return err
	}
	b.cluster()
	return nil
}

func (b *bench) measureCluster() error {
	ctx := context.Background()
	n := 500_000
	if b.quick {
		n = 200_000
	}
	stamp := time.Now().Unix()
	clusterDB, oneDB := fmt.Sprintf("bench_cluster_%d", stamp), fmt.Sprintf("bench_cluster_one_%d", stamp)
	clusterConn, err := b.clusterDatabase(ctx, clusterDB)
	if clusterConn != nil {
		defer clusterConn.Close()
	}
	defer dropClusterDatabase(clusterDB)
	if err != nil {
		return err
	}
	oneConn, err := b.oneDatabase(ctx, oneDB)
	if oneConn != nil {
		defer oneConn.Close()
		defer oneConn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+oneDB)
	}
	if err != nil {
		return err
	}

	load := loadAverage()
	step("cluster: writing %d events in %d-event batches, alternately into the cluster and one server (load average %s)", n, clusterBatch, load)
	evs := benchEvents(n)
	var onCluster, onOne time.Duration
	for i := 0; i < n; i += clusterBatch {
		batch := collector.Batch{ID: uint64(i/clusterBatch + 1), Events: evs[i:min(i+clusterBatch, n)]}
		for _, w := range []struct {
			conn  driver.Conn
			spent *time.Duration
			where string
		}{{clusterConn, &onCluster, "the cluster"}, {oneConn, &onOne, "one server"}} {
			start := time.Now()
			if err := (collector.ClickHouseSink{Conn: w.conn}).Write(ctx, batch); err != nil {
				return fmt.Errorf("cannot write a batch into %s: %w", w.where, err)
			}
			*w.spent += time.Since(start)
		}
	}
	const section = "cluster, 2 shards x 2 replicas"
	b.add(Row{Section: section, Metric: "machine load average (1 min) as the writes began", Value: load1(load), Unit: ""}, true)
	perSecond := func(d time.Duration) float64 { return float64(n) / d.Seconds() }
	b.add(Row{Section: section, Metric: fmt.Sprintf("events into the cluster, the sink's Write, %dk-event batches, distributed sync (baseline: one server)", clusterBatch/1000),
		Value: perSecond(onCluster), Unit: "events/s", Baseline: perSecond(onOne)}, true)

	if err := syncReplicas(ctx, clusterDB); err != nil {
		return err
	}
	series := query.Query{Metrics: []string{"views", "unique_viewers"}, Dimensions: []string{"time:day"}, DateRange: query.DateRange{Preset: "30d"}}
	step("cluster: a credential's counters and a 30-day daily series over %d events, the cluster and one server (load average %s)", n, loadAverage())
	for _, q := range []struct {
		name string
		ask  func(driver.Conn) error
	}{
		{"per-credential counters, uncached", func(conn driver.Conn) error {
			_, err := (counters.Store{Conn: conn}).CredentialStats(ctx, hotCredential)
			return err
		}},
		{"30-day daily series with unique viewers", func(conn driver.Conn) error {
			_, err := query.NewEngine(conn, time.Now).Run(ctx, series)
			return err
		}},
	} {
		c50, c95, err := timeIt(func() error { return q.ask(clusterConn) })
		if err != nil {
			return fmt.Errorf("%s on the cluster: %w", q.name, err)
		}
		o50, o95, err := timeIt(func() error { return q.ask(oneConn) })
		if err != nil {
			return fmt.Errorf("%s on one server: %w", q.name, err)
		}
		b.add(Row{Section: section, Metric: q.name + " p50 (baseline: one server)", Value: ms(c50), Unit: "ms", Baseline: ms(o50)}, true)
		b.add(Row{Section: section, Metric: q.name + " p95 (baseline: one server)", Value: ms(c95), Unit: "ms", Baseline: ms(o95)}, true)
	}
	if err := b.collectorsEndToEnd(section, clusterDB, oneDB, clusterConn, oneConn); err != nil {
		return err
	}
	step("cluster: done (load average %s, at the start %s)", loadAverage(), load)
	return nil
}

// collectorsEndToEnd runs the real collector behind the load generator,
// `credstats collector --cluster` on the cluster and a plain one on the
// bench's server, one after the other, and counts the events that reach
// ClickHouse over the time from the first request until the collector's
// spool holds nothing unwritten.
func (b *bench) collectorsEndToEnd(section, clusterDB, oneDB string, clusterConn, oneConn driver.Conn) error {
	load := 20 * time.Second
	if b.quick {
		load = 5 * time.Second
	}
	type target struct {
		name, addr string
		flags      []string
		conn       driver.Conn
		rate       float64
		perInsert  float64
	}
	targets := []*target{
		{name: "the cluster", addr: "127.0.0.1:18911", conn: clusterConn,
			flags: []string{"--cluster", clusterName, "--clickhouse", clusterDSN(clusterDB, 0, 2)}},
		{name: "one server", addr: "127.0.0.1:18912", conn: oneConn,
			flags: []string{"--clickhouse", fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", b.chPort, oneDB)}},
	}
	defer b.stopAll()
	for i, t := range targets {
		data := filepath.Join(b.root, ".local", "bench", fmt.Sprintf("cluster-collector%d", i))
		os.RemoveAll(data)
		args := append([]string{"collector", "--listen", t.addr, "--data-dir", data, "--migrate=false",
			"--trusted-proxies", "127.0.0.1", "--rate-limit", "-1", "--log-level", "warn"}, t.flags...)
		if _, err := b.start(b.bin, args...); err != nil {
			return err
		}
	}
	for _, t := range targets {
		if err := waitListening(t.addr, 30*time.Second); err != nil {
			return err
		}
	}
	const conns = 256
	for _, t := range targets {
		step("cluster: end to end: %s of load through `credstats collector` into %s, %d connections (load average %s)", load, t.name, conns, loadAverage())
		before := count(t.conn, "events")
		batches0, rows0 := batchMetrics(t.addr)
		start := time.Now()
		res, err := loadgen.Run(context.Background(), loadgen.Options{URL: "http://" + t.addr + "/api/event", Connections: conns, Duration: load, Seed: 1})
		if err != nil {
			return err
		}
		if bad := non2xx(res); bad > 0 {
			return fmt.Errorf("the collector on %s refused %d of %d requests: %v", t.name, bad, res.Requests, res.Status)
		}
		last, err := drained(t.addr)
		if err != nil {
			return fmt.Errorf("the collector on %s: %w", t.name, err)
		}
		t.rate = float64(count(t.conn, "events")-before) / last.Sub(start).Seconds()
		if batches, rows := batchMetrics(t.addr); batches > batches0 {
			t.perInsert = (rows - rows0) / (batches - batches0)
		}
	}
	b.add(Row{Section: section, Metric: fmt.Sprintf("events into the cluster end to end, `credstats collector --cluster`, %s of load, %d connections (baseline: one server)", load, conns),
		Value: targets[0].rate, Unit: "events/s", Baseline: targets[1].rate}, true)
	b.add(Row{Section: section, Metric: "rows per INSERT of that collector (baseline: one server)",
		Value: targets[0].perInsert, Unit: "rows", Baseline: targets[1].perInsert}, true)
	return nil
}

// drained waits until the collector's spool holds nothing unwritten, read
// from its /metrics, and returns when it saw that.
func drained(addr string) (time.Time, error) {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for line := range strings.Lines(string(body)) {
				if value, ok := strings.CutPrefix(strings.TrimSpace(line), "credstats_spool_unwritten_bytes "); ok && value == "0" {
					return time.Now(), nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("its spool still holds unwritten events after 3 minutes")
}

// clusterDatabase creates db on every server, migrates it for the cluster
// through ch1 and connects to it as credstats does in cluster mode.
func (b *bench) clusterDatabase(ctx context.Context, db string) (driver.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := store.EnsureClusterDatabase(ctx, clusterDSN(db, 0), clusterName); err != nil {
		return nil, err
	}
	first, err := store.Open(ctx, clusterDSN(db, 0), store.Options{Cluster: true})
	if err != nil {
		return nil, err
	}
	defer first.Close()
	if _, _, err := schema.Migrate(ctx, first, schema.Options{Cluster: clusterName, DSN: clusterDSN(db, 0)}); err != nil {
		return nil, fmt.Errorf("cannot migrate %s on the cluster: %w", db, err)
	}
	return store.Open(ctx, clusterDSN(db, 0, 2), store.Options{Cluster: true})
}

// oneDatabase creates and migrates db on the bench's own server.
func (b *bench) oneDatabase(ctx context.Context, db string) (driver.Conn, error) {
	dsn := fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", b.chPort, db)
	if err := store.EnsureDatabase(ctx, dsn); err != nil {
		return nil, err
	}
	conn, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return nil, err
	}
	if _, _, err := schema.Migrate(ctx, conn, schema.Options{}); err != nil {
		return conn, fmt.Errorf("cannot migrate %s on one server: %w", db, err)
	}
	return conn, nil
}

// waitZooKeeper waits until every server reads ZooKeeper and has been up
// for 10 s: a server's DDL worker retries its own ZooKeeper session about
// once a second after a start, and the crash comes from a statement that
// arrives before it has one (seen 1-3 s after a start, never past 10 s).
func waitZooKeeper() error {
	deadline := time.Now().Add(time.Minute)
	for i := range clusterPorts {
		for {
			err := func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				conn, err := store.Open(ctx, clusterDSN("default", i), store.Options{})
				if err != nil {
					return err
				}
				defer conn.Close()
				var n, up uint64
				if err := conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = '/'").Scan(&n); err != nil {
					return err
				}
				if err := conn.QueryRow(ctx, "SELECT toUInt64(uptime())").Scan(&up); err != nil {
					return err
				}
				if up < 10 {
					return fmt.Errorf("up for %d s only", up)
				}
				return nil
			}()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("ch%d cannot read ZooKeeper: %w", i+1, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return nil
}

// clusterDSN names db on the cluster's servers by index (0 is ch1).
func clusterDSN(db string, servers ...int) string {
	addrs := make([]string, len(servers))
	for i, s := range servers {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", clusterPorts[s])
	}
	return "clickhouse://" + strings.Join(addrs, ",") + "/" + db
}

func dropClusterDatabase(db string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := store.Open(ctx, clusterDSN("default", 0), store.Options{})
	if err != nil {
		step("cluster: cannot drop %s: %v", db, err)
		return
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" ON CLUSTER "+clusterName); err != nil {
		step("cluster: cannot drop %s: %v", db, err)
	}
}

// syncReplicas waits until every replica holds what the others took: a
// read through a Distributed table asks one replica a shard, which may be
// a moment behind the one that took an insert.
func syncReplicas(ctx context.Context, db string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for i := range clusterPorts {
		conn, err := store.Open(ctx, clusterDSN(db, i), store.Options{Cluster: true})
		if err != nil {
			return err
		}
		rows, err := conn.Query(ctx, "SELECT table FROM system.replicas WHERE database = currentDatabase()")
		if err != nil {
			conn.Close()
			return err
		}
		var tables []string
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				conn.Close()
				return err
			}
			tables = append(tables, t)
		}
		rows.Close()
		for _, t := range tables {
			if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA "+db+"."+t); err != nil {
				conn.Close()
				return fmt.Errorf("cannot sync replica %s on ch%d: %w", t, i+1, err)
			}
		}
		conn.Close()
	}
	return nil
}

// benchEvents makes n events over the last 30 days, shaped like the query
// benchmarks' seed: half of them go to 200 busy credentials (cred-0 among
// them), a quarter are shares.
func benchEvents(n int) []event.Event {
	r := rand.New(rand.NewPCG(16, 1))
	now := time.Now().UTC().Truncate(time.Second)
	out := make([]event.Event, n)
	for i := range out {
		cred := r.IntN(100_000)
		if i%2 == 0 {
			cred = r.IntN(200)
		}
		out[i] = event.Event{
			ID:         uuid.New(),
			Time:       now.Add(-time.Duration(r.IntN(30*86400)) * time.Second),
			Credential: fmt.Sprintf("cred-%d", cred),
			Group:      fmt.Sprintf("program-%d", cred%50),
			Type:       event.View,
			Actor:      event.Guest,
			Source:     event.Beacon,
			Visitor:    1 + r.Uint64N(uint64(max(n/3, 1))),
			URLHost:    "certs.example.org",
			URLPath:    "/c/x",
			Country:    "DE",
			Browser:    "Chrome",
			OS:         "Windows",
			Device:     event.Desktop,
		}
		if r.IntN(4) == 0 {
			out[i].Type, out[i].Network = event.Share, event.LinkedIn
		}
	}
	return out
}

// loadAverage is the machine's 1, 5 and 15-minute load average.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(raw))[:3], " ")
}

func load1(avg string) float64 {
	v, _ := strconv.ParseFloat(strings.Fields(avg + " 0")[0], 64)
	return v
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
