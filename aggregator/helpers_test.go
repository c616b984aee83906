package aggregator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"

	"github.com/credstats/credstats/cmd/credstats/server"
	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/chtest"
	"github.com/credstats/credstats/internal/keys"
	"github.com/credstats/credstats/schema"
)

// The test data's clock: events lie in the 75 days before it, across the
// start of daylight saving time in New York (2026-03-08).
var testNow = time.Date(2026, 3, 15, 12, 30, 0, 0, time.UTC)

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

// The column list must be explicit: 18.16 refuses a batch without one.
const insertEvents = `INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
	url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)`

func pick[T any](r *rand.Rand, vs []T) T { return vs[r.IntN(len(vs))] }

// seed inserts n random events (about one in ten a bot's) spread over the
// span before end, and waits until every rollup has them. It returns how
// many are people's.
func seed(t testing.TB, conn driver.Conn, n int, seedValue uint64, end time.Time, span time.Duration) int {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seedValue, 7))
	b, err := conn.PrepareBatch(ctx, insertEvents)
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
		at := end.Add(-time.Duration(r.Int64N(int64(span/time.Second))) * time.Second)
		cred := pick(r, credentials)
		err := b.Append(uuid.New(), at, cred, groups[len(cred)%len(groups)], typ, network, actor,
			pick(r, []string{"beacon", "beacon", "pixel", "api"}), uint64(r.IntN(400)),
			"certs.example.org", "/c/"+cred, pick(r, referrers), "/", pick(r, countries), pick(r, browsers), pick(r, systems), device, bot)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	waitForRollups(t, conn)
	return people
}

// waitForRollups waits until every rollup counts the events table's
// people: ClickHouse writes the materialized views after the table.
func waitForRollups(t testing.TB, conn driver.Conn) {
	t.Helper()
	ctx := context.Background()
	var want uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM events WHERE bot_reason = ''").Scan(&want); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, table := range []string{"totals_daily", "totals_15m", "group_daily", "group_15m", "credential_15m", "traffic_daily", "traffic_15m", "credential_traffic_15m", "credential_daily"} {
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

// env is one running credstats server on a fresh database.
type env struct {
	t    *testing.T
	dsn  string
	conn driver.Conn
	srv  *server.Server
	url  string
	log  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv starts a server on a fresh database; addr, if set, is the
// ClickHouse the server talks to instead of the test server (a proxy).
func newEnv(t *testing.T, opts func(*server.Options)) *env {
	dsn, conn := chtest.New(t)
	return startEnv(t, dsn, conn, opts)
}

func startEnv(t *testing.T, dsn string, conn driver.Conn, opts func(*server.Options)) *env {
	t.Helper()
	e := &env{t: t, dsn: dsn, conn: conn, log: &syncBuffer{}}
	o := server.Options{
		ClickHouse:  dsn,
		KeyCacheTTL: -1,
		Logger:      slog.New(slog.NewTextHandler(e.log, nil)),
		Collector: collector.Options{
			DataDir:       t.TempDir(),
			Now:           func() time.Time { return testNow },
			FlushInterval: 20 * time.Millisecond,
			RateLimit:     -1,
		},
	}
	if opts != nil {
		opts(&o)
	}
	srv, err := server.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	e.srv, e.url = srv, "http://"+ln.Addr().String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	for deadline := time.Now().Add(30 * time.Second); !srv.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server did not get ready in 30 s")
		}
	}
	return e
}

type response struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(method, path, body string, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func (e *env) get(path string) response { return e.do("GET", path, "", nil) }

func (e *env) key(scopes ...string) (token, id string) {
	e.t.Helper()
	token, k, err := keys.NewStore(e.conn, 0).Create(context.Background(), "test", scopes)
	if err != nil {
		e.t.Fatal(err)
	}
	return token, k.ID
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
}

func (e *env) query(token, body string) response {
	e.t.Helper()
	return e.do("POST", "/api/v1/query", body, bearer(token))
}

func errorCode(body string) string {
	var env struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal([]byte(body), &env)
	return env.Error.Code
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func migrate(t testing.TB, conn driver.Conn) {
	t.Helper()
	if _, _, err := schema.Migrate(context.Background(), conn, schema.Options{}); err != nil {
		t.Fatal(err)
	}
}

func newDatabase(t *testing.T) (string, driver.Conn) { return chtest.New(t) }

// addViews stores n views of a credential by new visitors.
func addViews(t testing.TB, conn driver.Conn, credential string, n int) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), insertEvents)
	must(t, err)
	for i := range n {
		must(t, b.Append(uuid.New(), testNow.Add(-time.Minute), credential, "", "view", "", "guest", "beacon", uint64(1_000_000+i),
			"", "", "", "", "", "Chrome", "Windows", "desktop", ""))
	}
	must(t, b.Send())
	waitForRollups(t, conn)
}

// proxy forwards TCP connections to target until down, which closes the
// listener and every connection; up listens again on the same address.
type proxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target, conns: map[net.Conn]bool{}}
	p.listen("127.0.0.1:0")
	p.addr = p.ln.Addr().String()
	t.Cleanup(func() {
		p.down()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			if !p.track(c, up) {
				return
			}
			for _, pair := range [][2]net.Conn{{c, up}, {up, c}} {
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					io.Copy(pair[0], pair[1])
					pair[0].Close()
					pair[1].Close()
				}()
			}
		}
	}()
}

func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) up() { p.listen(p.addr) }
