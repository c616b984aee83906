// Package chaos holds the fault tests: the real credstats binary under load,
// killed with SIGKILL, cut off from ClickHouse, its spool damaged, its disk
// full. Every test checks the one promise: each event answered 2xx is in
// ClickHouse exactly once. `make test` runs them short; `make chaos` sets
// CREDSTATS_CHAOS=1 for longer runs.
package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/loadgen"
	"github.com/credstats/credstats/internal/spool"
	"github.com/credstats/credstats/internal/testutil/chtest"
	"github.com/credstats/credstats/internal/testutil/faultproxy"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "credstats-chaos")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "credstats")
	build := exec.Command("go", "build", "-o", binary, "github.com/credstats/credstats/cmd/credstats")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot build credstats:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// long reports whether this is `make chaos`, which runs every test longer.
func long() bool { return os.Getenv("CREDSTATS_CHAOS") != "" }

// rig is one collector process between the load and a fault proxy in front
// of the test ClickHouse.
type rig struct {
	t       *testing.T
	conn    driver.Conn
	dsn     string
	proxy   *faultproxy.Proxy
	dataDir string
	addr    string
	extra   []string
	cmd     *exec.Cmd
	log     *os.File
}

func newRig(t *testing.T, extra ...string) *rig {
	return newRigWith(t, nil, extra...)
}

// newRigWith calls prepare with the data folder before the collector starts.
func newRigWith(t *testing.T, prepare func(dataDir string), extra ...string) *rig {
	dsn, conn := chtest.New(t)
	chAddr := strings.TrimPrefix(chtest.Addr(), "clickhouse://")
	proxy, err := faultproxy.Start(chAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	log, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, conn: conn, dsn: dsn, proxy: proxy, dataDir: t.TempDir(), extra: extra, log: log}
	if prepare != nil {
		prepare(r.dataDir)
	}
	r.addr = freeAddr(t)
	r.start()
	t.Cleanup(func() {
		r.stop(syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("collector log:\n%s", b)
		}
	})
	return r
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (r *rig) start() {
	r.t.Helper()
	db := r.dsn[strings.LastIndex(r.dsn, "/")+1:]
	args := append([]string{"serve", "--listen", r.addr, "--clickhouse", "clickhouse://" + r.proxy.Addr() + "/" + db,
		"--data-dir", r.dataDir, "--trusted-proxies", "127.0.0.1", "--rate-limit", "-1", "--migrate=false",
		"--flush-interval", "100ms", "--dedup-max-keys", "10000", "--log-level", "warn"}, r.extra...)
	r.cmd = exec.Command(binary, args...)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + r.addr + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatal("the collector did not start")
}

func (r *rig) stop(sig syscall.Signal) {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(sig)
	r.cmd.Wait()
	r.cmd = nil
}

// loadInBackground sends load until the returned stop is called, which
// returns what the load saw.
func (r *rig) loadInBackground(conns int, runID string) (stop func() loadgen.Result) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan loadgen.Result)
	go func() { done <- r.load(ctx, conns, runID) }()
	return func() loadgen.Result {
		cancel()
		return <-done
	}
}

// load sends unique events until ctx ends and returns the acknowledged
// ids and every status seen.
func (r *rig) load(ctx context.Context, conns int, runID string) loadgen.Result {
	res, err := loadgen.Run(ctx, loadgen.Options{
		URL: "http://" + r.addr + "/api/event", Connections: conns, Duration: time.Hour,
		Unique: true, RunID: runID, Bots: 0.0001, Clients: 1000,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

// check waits for the acknowledged ids to reach ClickHouse and fails for
// every one missing or stored twice.
func (r *rig) check(runID string, acked []string) {
	r.t.Helper()
	if len(acked) == 0 {
		r.t.Fatal("no event was acknowledged: the test proves nothing")
	}
	want := map[string]bool{}
	for _, id := range acked {
		want[id] = true
	}
	var counts map[string]int
	deadline := time.Now().Add(60 * time.Second)
	for {
		counts = r.stored(runID)
		missing := 0
		for id := range want {
			if counts[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			r.t.Errorf("%d of %d acknowledged events never reached ClickHouse", missing, len(acked))
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	dups := 0
	for id, n := range counts {
		if n > 1 {
			dups++
			if dups <= 5 {
				r.t.Errorf("%s stored %d times", id, n)
			}
		}
	}
	unacked := len(counts) - len(want)
	r.t.Logf("found: %d acknowledged events all stored once (%d duplicates); %d more stored whose answer was lost", len(acked), dups, unacked)
}

func (r *rig) stored(runID string) map[string]int {
	rows, err := r.conn.Query(context.Background(), "SELECT credential, count() FROM events WHERE startsWith(credential, ?) GROUP BY credential", runID+"-")
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n uint64
		rows.Scan(&id, &n)
		out[id] = int(n)
	}
	return out
}

func statusLine(res loadgen.Result) string {
	var parts []string
	for code, n := range res.Status {
		parts = append(parts, fmt.Sprintf("%d: %d", code, n))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%s; %d transport errors", strings.Join(parts, ", "), res.Errors)
}

func TestKill9UnderLoad(t *testing.T) {
	r := newRig(t)
	kills, runID := 3, "kill9"
	if long() {
		kills = 15
	}
	stopLoad := r.loadInBackground(16, runID)
	for i := range kills {
		time.Sleep(time.Duration(400+i*137%600) * time.Millisecond)
		r.stop(syscall.SIGKILL)
		r.start()
	}
	time.Sleep(300 * time.Millisecond)
	res := stopLoad()
	t.Logf("did: %d SIGKILLs under load with 16 connections; %s", kills, statusLine(res))
	for code := range res.Status {
		if code != http.StatusAccepted {
			t.Errorf("status %d under load", code)
		}
	}
	r.check(runID, res.Acked)
}

func TestDedupSurvivesKill9(t *testing.T) {
	r := newRig(t)
	send := func() string {
		req, _ := http.NewRequest("POST", "http://"+r.addr+"/api/event", strings.NewReader(`{"credential":"dedup-kill","type":"view"}`))
		req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Credstats-Dropped")
	}
	if d := send(); d != "" {
		t.Fatalf("first view dropped as %q", d)
	}
	r.stop(syscall.SIGKILL) // long before the next dedup snapshot
	r.start()
	if d := send(); d != "duplicate" {
		t.Fatalf("after SIGKILL the same view was not a duplicate (%q)", d)
	}
}

func TestClickHouseOutageUnderLoad(t *testing.T) {
	outage := 3 * time.Second
	if long() {
		outage = 30 * time.Second
	}
	// A small spool fills during the outage: then the collector must say
	// 503, never drop silently.
	r := newRig(t, "--spool-max-bytes", strconv.Itoa(2<<20))
	runID := "outage"
	stopLoad := r.loadInBackground(8, runID)
	time.Sleep(500 * time.Millisecond)
	r.proxy.SetMode(faultproxy.Refuse)
	time.Sleep(outage)
	ready := readyz(r.addr)
	r.proxy.SetMode(faultproxy.Pass)
	time.Sleep(2 * time.Second)
	res := stopLoad()
	t.Logf("did: ClickHouse unreachable for %s under load, spool bounded at 2 MiB; %s; readyz during the outage: %s", outage, statusLine(res), ready)
	for code := range res.Status {
		if code != http.StatusAccepted && code != http.StatusServiceUnavailable {
			t.Errorf("status %d: want only 202 or an explicit 503", code)
		}
	}
	if res.Status[http.StatusServiceUnavailable] == 0 {
		t.Error("the spool never filled: the outage was too short to test refusals")
	}
	if !strings.Contains(ready, "unwritten_bytes") || !strings.Contains(ready, "oldest_pending") {
		t.Errorf("readyz does not show the backlog: %s", ready)
	}
	r.check(runID, res.Acked)
}

func readyz(addr string) string {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestResetAfterClickHouseReceivedTheBatch(t *testing.T) {
	r := newRig(t)
	runID := "reset"
	resets := 3
	if long() {
		resets = 20
	}
	stopLoad := r.loadInBackground(8, runID)
	for range resets {
		r.proxy.MinBytes.Store(4 << 10) // an INSERT, not a ping
		r.proxy.SetMode(faultproxy.ResetAfterSend)
		// The proxy goes back to passing once it has cut a connection.
		for deadline := time.Now().Add(10 * time.Second); r.proxy.Mode() != faultproxy.Pass && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond)
	res := stopLoad()
	t.Logf("did: %d connections cut after ClickHouse took an INSERT and before its answer; %s", r.proxy.Resets(), statusLine(res))
	if r.proxy.Resets() == 0 {
		t.Fatal("no connection was cut")
	}
	r.check(runID, res.Acked)
}

func TestDamagedSpoolTail(t *testing.T) {
	for _, damage := range []string{"truncate", "flip"} {
		t.Run(damage, func(t *testing.T) {
			r := newRig(t)
			runID := "damage-" + damage
			r.proxy.SetMode(faultproxy.Refuse) // keep everything in the spool
			res, err := loadgen.Run(context.Background(), loadgen.Options{
				URL: "http://" + r.addr + "/api/event", Connections: 1, Requests: 300,
				Unique: true, RunID: runID, Clients: 1, Duration: time.Minute,
			})
			if err != nil || len(res.Acked) != 300 {
				t.Fatalf("%d acknowledged, %v", len(res.Acked), err)
			}
			r.stop(syscall.SIGKILL)
			seg := lastSegment(t, filepath.Join(r.dataDir, "spool"))
			info, _ := os.Stat(seg)
			ends := recordEnds(t, filepath.Join(r.dataDir, "spool"), seg, info.Size())
			// Two thirds into the records, not into the zeros the spool
			// writes ahead of them.
			at := ends[len(ends)-1] * 2 / 3
			intact := 0
			for _, end := range ends {
				if end <= at {
					intact++
				}
			}
			switch damage {
			case "truncate":
				if err := os.Truncate(seg, at); err != nil {
					t.Fatal(err)
				}
			case "flip":
				f, _ := os.OpenFile(seg, os.O_RDWR, 0)
				b := []byte{0}
				f.ReadAt(b, at)
				b[0] ^= 0xff
				f.WriteAt(b, at)
				f.Close()
			}
			r.proxy.SetMode(faultproxy.Pass)
			r.start()
			// One connection sent in order, so the spool holds the ids in
			// order and what survives must be the first ones.
			r.check(runID, res.Acked[:intact])
			stored := r.stored(runID)
			if len(stored) != intact {
				t.Errorf("%d events stored, want the %d before the damage", len(stored), intact)
			}
			t.Logf("did: %s the spool's last segment at byte %d of its records' %d; found: the %d records before it recovered, the process up", damage, at, ends[len(ends)-1], intact)
		})
	}
}

func lastSegment(t *testing.T, dir string) string {
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no spool segment")
	}
	sort.Strings(segs)
	return segs[len(segs)-1]
}

// recordEnds opens a copy of the undamaged spool and returns the end offset
// of each record in segment file seg, which is size bytes long.
func recordEnds(t *testing.T, dir, seg string, size int64) []int64 {
	cp := t.TempDir()
	segs, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, s := range segs {
		b, _ := os.ReadFile(s)
		os.WriteFile(filepath.Join(cp, filepath.Base(s)), b, 0o600)
	}
	sp, err := spool.Open(spool.Options{Dir: cp})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	// Open cuts the zeros written ahead off the copy: what is left ends
	// with the last record.
	if fi, err := os.Stat(filepath.Join(cp, filepath.Base(seg))); err == nil {
		size = fi.Size()
	}
	seq, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(seg), ".seg"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	p := sp.Start()
	for {
		recs, next, err := sp.ReadFrom(p, 1, 0)
		if err != nil || len(recs) == 0 {
			break
		}
		switch {
		case next.Seg == seq:
			ends = append(ends, next.Off)
		case p.Seg == seq && next.Seg > seq:
			// The segment's last record: the position moved on to the next.
			ends = append(ends, size)
		}
		p = next
	}
	return ends
}

func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as the full disk")
	}
	mount := func(dir string) {
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=7m", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	}
	// A 64 MiB spool limit makes 4 MiB segments, so the 7 MiB disk fills
	// before the spool's own limit does.
	r := newRigWith(t, mount, "--spool-max-bytes", strconv.Itoa(64<<20))
	runID := "fulldisk"
	r.proxy.SetMode(faultproxy.Refuse) // nothing drains: the disk fills
	stopLoad := r.loadInBackground(8, runID)
	refusing := waitFor(func() bool { return probe(r.addr) == http.StatusServiceUnavailable }, 60*time.Second)
	r.proxy.SetMode(faultproxy.Pass) // ClickHouse back: the spool drains and frees its segments
	recovered := waitFor(func() bool { return probe(r.addr) == http.StatusAccepted }, 60*time.Second)
	time.Sleep(time.Second)
	res := stopLoad()
	t.Logf("did: a 7 MiB disk for the spool filled with ClickHouse unreachable, then ClickHouse came back; %s", statusLine(res))
	if !refusing {
		t.Fatal("the collector never answered 503 on a full disk")
	}
	if !recovered {
		t.Fatal("the collector did not take events again once the spool drained")
	}
	for code := range res.Status {
		if code != http.StatusAccepted && code != http.StatusServiceUnavailable {
			t.Errorf("status %d: want only 202 or an explicit 503", code)
		}
	}
	r.check(runID, res.Acked)
}

func waitFor(ok func() bool, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return true
		}
	}
	return false
}

// probe sends one event of its own and returns the status.
func probe(addr string) int {
	body := fmt.Sprintf(`{"credential":"probe-%d","type":"view"}`, time.Now().UnixNano())
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/event", strings.NewReader(body))
	req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// figures logs a test's "did:" or "found:" line. It is not a helper, so
// the line is reported from this file, where `make chaos` looks for them.
func figures(t *testing.T, format string, args ...any) { t.Logf(format, args...) }
