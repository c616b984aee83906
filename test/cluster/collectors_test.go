package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nginx from scripts/cluster.sh, in front of the collectors on these
// ports with `hash $remote_addr consistent`.
const (
	nginxURL  = "http://127.0.0.1:19480"
	upstreamA = "127.0.0.1:19491"
	upstreamB = "127.0.0.1:19492"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// binary builds credstats once for the package.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "credstats-cluster-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "credstats")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/credstats")
		cmd.Dir = root()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// collectorProc is one `credstats collector` process with its own data
// folder, writing through the cluster's Distributed tables.
type collectorProc struct {
	t       testing.TB
	listen  string
	args    []string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// startCollector starts a collector on listen that reaches ClickHouse
// through the given servers (the first that answers).
func startCollector(t testing.TB, listen, db string, chNodes ...string) *collectorProc {
	t.Helper()
	dir := t.TempDir()
	c := &collectorProc{t: t, listen: listen, logPath: filepath.Join(dir, "collector.log"), args: []string{
		"collector",
		"--listen", listen,
		"--clickhouse", dsn(db, chNodes...),
		"--cluster", clusterName,
		"--data-dir", filepath.Join(dir, "data"),
		"--trusted-proxies", "127.0.0.1",
		"--migrate=false",
		"--rate-limit", "-1",
		"--flush-interval", "200ms",
		"--shutdown-timeout", "30s",
	}}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *collectorProc) start() {
	c.t.Helper()
	log, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	c.cmd = exec.Command(binary(c.t), c.args...)
	c.cmd.Stdout, c.cmd.Stderr = log, log
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	log.Close()
	c.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(c.cmd, c.exited)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + c.listen + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-c.exited:
			c.t.Fatalf("collector on %s exited at start-up; its log:\n%s", c.listen, c.log())
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("collector on %s did not answer in 30s; its log:\n%s", c.listen, c.log())
		}
	}
}

func (c *collectorProc) log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

// kill ends the process with SIGKILL: no final flush, no snapshot.
func (c *collectorProc) kill() {
	c.cmd.Process.Kill()
	<-c.exited
}

// stop ends the process with SIGTERM, which flushes what it accepted.
func (c *collectorProc) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(40 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// client sends requests to nginx from one loopback address, so that nginx
// sees one client address per client.
type client struct {
	addr string
	http *http.Client
}

func newClient(ip string) *client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &client{addr: ip, http: &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4},
	}}
}

// answer is what nginx and the collector behind it said.
type answer struct {
	status   int
	dropped  string // X-Credstats-Dropped
	upstream string // the collector nginx used last
}

// stored says the event was taken and will be stored: a 202 that was
// neither a duplicate nor a bot.
func (a answer) stored() bool { return a.status == http.StatusAccepted && a.dropped == "" }

const browserUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

func (c *client) send(body string, ua string) (answer, error) {
	req, err := http.NewRequest(http.MethodPost, nginxURL+"/api/event", strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("User-Agent", ua)
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	ups := strings.Split(resp.Header.Get("X-Credstats-Upstream"), ", ")
	return answer{status: resp.StatusCode, dropped: resp.Header.Get("X-Credstats-Dropped"), upstream: ups[len(ups)-1]}, nil
}

// clientOf returns a client whose address nginx sends to the given
// collector.
func clientOf(t testing.TB, upstream string) *client {
	t.Helper()
	for i := 2; i < 250; i++ {
		c := newClient(fmt.Sprintf("127.0.0.%d", i))
		a, err := c.send(`{"credential": "probe", "type": "verify"}`, browserUA)
		if err != nil {
			t.Fatal(err)
		}
		if a.upstream == upstream {
			return c
		}
	}
	t.Fatalf("no loopback address goes to %s", upstream)
	return nil
}

// waitCount polls a count through the Distributed tables until it is want
// (replicas that were away catch up) or a minute has passed, and returns
// the last count.
func waitCount(t testing.TB, db, query string, want uint64, args ...any) uint64 {
	t.Helper()
	conn := open(t, db, "ch1", "ch3")
	var n uint64
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err == nil && n == want {
			return n
		}
	}
	return n
}

// A client address goes to one collector, whose 24-hour dedup sees all of
// its events. When that collector leaves, nginx sends the address to
// another, which has not seen them: each event the client repeats counts
// once more, once. When the collector comes back with its data folder, it
// knows the events again.
func TestDedupWhenACollectorLeaves(t *testing.T) {
	db := newDatabase(t)
	a := startCollector(t, upstreamA, db, "ch1", "ch3")
	startCollector(t, upstreamB, db, "ch3", "ch1")
	c := clientOf(t, upstreamA)
	const ev = `{"credential": "leave-1", "type": "share", "network": "linkedin"}`
	expect := func(what string, wantStored bool, wantUpstream string) {
		t.Helper()
		got, err := c.send(ev, browserUA)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got.stored() != wantStored || got.upstream != wantUpstream {
			t.Fatalf("%s: %+v, want stored %v by %s", what, got, wantStored, wantUpstream)
		}
	}
	expect("first", true, upstreamA)
	expect("repeated", false, upstreamA)

	a.kill()
	expect("after A left", true, upstreamB) // the one recount
	expect("repeated on B", false, upstreamB)

	a.start()
	// nginx tries A again once its fail_timeout (2s) has passed; until
	// then B answers, and B knows the event too.
	for deadline := time.Now().Add(30 * time.Second); ; {
		got, err := c.send(ev, browserUA)
		if err != nil {
			t.Fatal(err)
		}
		if got.stored() {
			t.Fatalf("the event counted again: %+v", got)
		}
		if got.upstream == upstreamA {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not send the address back to A: %+v", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := waitCount(t, db, "SELECT count() FROM events WHERE credential = 'leave-1'", 2); n != 2 {
		t.Errorf("%d events stored, want 2 (the first and the one recount)", n)
	}
}
