package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credstats/credstats/aggregator/counters"
	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

// outage is how long both replicas of shard 2 stay down: 30 s as the
// issue asks, 10 s in the short run that `make test` makes.
func outage() time.Duration {
	if os.Getenv("CREDSTATS_TEST_CLUSTER") == "short" {
		return 10 * time.Second
	}
	return 30 * time.Second
}

// credentials is how many credentials the load spreads over; with the
// kinds below, each client address sends that many events before its
// first duplicate.
const credentials = 997

var kinds = []string{
	`"type": "view"`, `"type": "share", "network": "linkedin"`, `"type": "share", "network": "whatsapp"`,
	`"type": "download"`, `"type": "linkedin_add"`, `"type": "view", "actor": "recipient"`,
}

// loader sends events with unique paths through nginx from several
// client addresses until stopped, and keeps the paths of those taken to be
// stored.
type loader struct {
	mu       sync.Mutex
	acked    map[string]bool
	refused  int // answers that were not 202, and errors: not promised
	dups     int // 202 duplicates: not stored, by design
	requests int
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(workers int) *loader {
	l := &loader{acked: map[string]bool{}, stop: make(chan struct{})}
	for w := range workers {
		c := newClient(fmt.Sprintf("127.0.1.%d", 10+w))
		l.wg.Go(func() {
			for seq := 0; ; seq++ {
				select {
				case <-l.stop:
					return
				case <-time.After(4 * time.Millisecond):
				}
				path := fmt.Sprintf("/w%d/%d", w, seq)
				body := fmt.Sprintf(`{"credential": "load-%d", %s, "group": "g%d", "url": "https://certs.example.org%s"}`,
					seq%credentials, kinds[(seq/credentials)%len(kinds)], seq%3, path)
				a, err := c.send(body, fmt.Sprintf("%s n%d", browserUA, seq%5))
				l.mu.Lock()
				l.requests++
				switch {
				case err == nil && a.stored():
					l.acked[path] = true
				case err == nil && a.status == 202:
					l.dups++
				default:
					l.refused++
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

func (l *loader) finish() {
	close(l.stop)
	l.wg.Wait()
}

// Under a unique-path load through nginx to two collectors, with a replica
// killed and restarted, a collector killed and restarted, and both
// replicas of a shard stopped for a while, every acknowledged event is
// stored exactly once through the Distributed table, and the query API
// answers as a single server fed the same events.
func TestEveryAcknowledgedEventIsStoredOnce(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	startCollector(t, upstreamA, db, "ch1", "ch2", "ch3", "ch4")
	b := startCollector(t, upstreamB, db, "ch3", "ch4", "ch1", "ch2")
	l := startLoad(8)
	step := func(what string, f func()) {
		time.Sleep(3 * time.Second)
		start := time.Now()
		f()
		t.Logf("%s (%.1fs)", what, time.Since(start).Seconds())
	}
	step("ch2 (a replica of shard 1) killed", func() { clusterScript(t, "node-kill", "ch2") })
	step("ch2 started again", func() { clusterScript(t, "node-start", "ch2") })
	step("collector B killed", b.kill)
	step("collector B started again", b.start)
	both := func(action string) {
		var wg sync.WaitGroup
		for _, node := range []string{"ch3", "ch4"} {
			wg.Go(func() { clusterScript(t, action, node) })
		}
		wg.Wait()
	}
	step("ch3 and ch4 (shard 2) stopped", func() { both("node-stop") })
	shardDown(t, db)
	time.Sleep(outage())
	for _, c := range []string{upstreamA, upstreamB} {
		t.Logf("collector %s at the end of the outage: /readyz %s", c, readyz(c))
	}
	step("ch3 and ch4 started again", func() { both("node-start") })
	step("load stopped", l.finish)
	t.Logf("%d requests: %d stored, %d duplicates, %d refused or failed", l.requests, len(l.acked), l.dups, l.refused)
	if len(l.acked) < 1000 {
		t.Fatalf("only %d events taken: the load did not run", len(l.acked))
	}

	// Every event is stored once the collectors have written their spools
	// and the replicas have caught up.
	conn := open(t, db, "ch1", "ch3")
	start := time.Now()
	stored := waitCount(t, db, "SELECT count() FROM events WHERE credential LIKE 'load-%'", uint64(len(l.acked)))
	rows, err := conn.Query(ctx, "SELECT url_path, count() FROM events WHERE credential LIKE 'load-%' GROUP BY url_path")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]uint64{}
	for rows.Next() {
		var path string
		var n uint64
		if err := rows.Scan(&path, &n); err != nil {
			t.Fatal(err)
		}
		seen[path] = n
	}
	rows.Close()
	missing, twice, unacked := 0, 0, 0
	for path := range l.acked {
		if seen[path] == 0 {
			missing++
		}
	}
	for path, n := range seen {
		if n > 1 {
			twice++
		}
		if !l.acked[path] {
			unacked++ // taken into a spool, its answer lost with the process
		}
	}
	t.Logf("all stored %.1fs after the load stopped", time.Since(start).Seconds())
	t.Logf("stored %d events: %d acknowledged ones missing, %d stored twice, %d stored without an acknowledgement", stored, missing, twice, unacked)
	if missing > 0 || twice > 0 {
		t.Fatalf("%d acknowledged events missing, %d stored more than once", missing, twice)
	}

	// The same events on one server answer every query alike.
	syncReplicas(t, db)
	single, singleConn := chtest.New(t)
	if err := singleConn.Exec(ctx, fmt.Sprintf(`INSERT INTO events (%s) SELECT %[1]s FROM remote('127.0.0.1:19401', %s, events)`, eventColumns, db)); err != nil {
		t.Fatalf("copying the events to %s: %v", single, err)
	}
	queries := []string{
		`{"metrics": ["events", "views", "unique_viewers", "shares", "downloads", "linkedin_adds", "share_rate"], "dimensions": ["credential"], "date_range": "7d", "order_by": [["credential", "asc"]], "limit": 1000}`,
		`{"metrics": ["views", "unique_viewers", "shares"], "dimensions": ["time:hour", "network"], "date_range": "24h"}`,
		`{"metrics": ["events", "unique_viewers"], "dimensions": ["actor", "type", "group"], "date_range": "today", "timezone": "Asia/Kolkata"}`,
		`{"metrics": ["views", "unique_viewers"], "dimensions": ["time:day"], "date_range": "30d"}`,
		`{"metrics": ["views", "shares"], "dimensions": ["browser", "device", "source"], "filters": [["is", "group", ["g1"]]], "date_range": "7d"}`,
	}
	now := time.Now()
	onCluster, onOne := query.NewEngine(conn, func() time.Time { return now }), query.NewEngine(singleConn, func() time.Time { return now })
	for _, text := range queries {
		q, err := query.DecodeQuery([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		got, err := onCluster.Run(ctx, q)
		if err != nil {
			t.Fatalf("%s on the cluster: %v", text, err)
		}
		want, err := onOne.Run(ctx, q)
		if err != nil {
			t.Fatalf("%s on one server: %v", text, err)
		}
		if !reflect.DeepEqual(got, want) || len(want.Results) == 0 {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Errorf("%s\ncluster: %s\none server: %s", text, g, w)
		}
	}
	for i := 0; i < credentials; i += 10 {
		cred := fmt.Sprintf("load-%d", i)
		got, err := counters.Store{Conn: conn}.CredentialStats(ctx, cred)
		if err != nil {
			t.Fatal(err)
		}
		want, err := counters.Store{Conn: singleConn}.CredentialStats(ctx, cred)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: cluster %+v, one server %+v", cred, got, want)
		}
	}
}

// shardDown records what the cluster answers while shard 2 is away: an
// insert through the Distributed table fails (after storing the rows of
// shard 1), and so does the writer's check for stored events; the
// collectors keep accepting into their spools and retry.
func shardDown(t *testing.T, db string) {
	ctx := context.Background()
	sink := collector.ClickHouseSink{Conn: open(t, db, "ch1")}
	evs := events(100, 20, 9)
	start := time.Now()
	err := sink.Write(ctx, collector.Batch{ID: 7, Events: evs})
	t.Logf("a 100-event insert with shard 2 down: %.2fs, %v", time.Since(start).Seconds(), firstLine(err))
	if err == nil {
		t.Error("an insert succeeded with a shard down")
	}
	start = time.Now()
	_, err = sink.Stored(ctx, 7, 8, time.Now().Add(-4*24*time.Hour))
	t.Logf("the stored-events check with shard 2 down: %.2fs, %v", time.Since(start).Seconds(), firstLine(err))
	if err == nil {
		t.Error("the stored-events check answered with a shard down")
	}
}

func readyz(hostPort string) string {
	resp, err := http.Get("http://" + hostPort + "/readyz")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 400))
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

func firstLine(err error) string {
	if err == nil {
		return "no error"
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

// eventColumns are the events table's stored columns.
var eventColumns = strings.Join([]string{"id", "time", "credential", "group_id", "type", "network", "actor", "source", "visitor",
	"url_host", "url_path", "referrer_host", "referrer_path", "country", "browser", "os", "device", "bot_reason", "batch"}, ", ")
