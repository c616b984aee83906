package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credstats/credstats/cmd/credstats/server"
	"github.com/credstats/credstats/dashboard"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/testutil/chtest"
	"github.com/credstats/credstats/internal/testutil/fakeclock"
	"github.com/credstats/credstats/internal/testutil/faultproxy"
)

var testSecret = []byte(strings.Repeat("k", 32))

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// The service starts while ClickHouse is down and its database does not
// exist yet: it accepts events into the spool, answers 503 on the routes
// that need ClickHouse, and once ClickHouse answers it migrates, becomes
// ready and stores every accepted event once.
func TestStartsWithoutClickHouse(t *testing.T) {
	proxy, err := faultproxy.Start(chtest.HostPort())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.SetMode(faultproxy.Refuse)
	dsn := chtest.Name(t)
	db := dsn[strings.LastIndexByte(dsn, '/')+1:]
	e := &env{t: t, dsn: "clickhouse://" + proxy.Addr() + "/" + db, log: &bytes.Buffer{}, dataDir: t.TempDir(),
		clock: fakeclock.New(time.Now().UTC()), opts: func(o *server.Options) { o.Migrate = true }}
	e.launch()
	t.Cleanup(e.stop)

	const n = 50
	for i := range n {
		if r := e.post("/api/event", fmt.Sprintf(`{"credential":"offline-%d","type":"view"}`, i)); r.status != 202 {
			t.Fatalf("event %d while ClickHouse is down: %d %s", i, r.status, r.body)
		}
	}
	for _, path := range []string{"/readyz", "/api/v1/credentials/offline-1/stats", "/awards/offline-1/stats", "/badge/offline-1.svg"} {
		if r := e.do(request{method: "GET", path: path}); r.status != 503 {
			t.Errorf("GET %s while ClickHouse is down: %d %s", path, r.status, r.body)
		}
	}
	if r := e.do(request{method: "GET", path: "/dashboard"}); r.status != 503 || !strings.Contains(r.body, "starting") {
		t.Errorf("GET /dashboard while ClickHouse is down: %d", r.status)
	}
	if e.srv.Ready() {
		t.Fatal("ready while ClickHouse is down")
	}

	proxy.SetMode(faultproxy.Pass)
	for deadline := time.Now().Add(60 * time.Second); !e.srv.Ready(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready a minute after ClickHouse came back; log:\n%s", e.log)
		}
	}
	e.conn = chtest.Open(t, dsn)
	if got := e.count("credential LIKE 'offline-%'"); got != n {
		t.Errorf("%d events stored, want %d", got, n)
	}
	if r := e.do(request{method: "GET", path: "/api/v1/credentials/offline-1/stats"}); r.status != 200 {
		t.Errorf("stats once ready: %d %s", r.status, r.body)
	}
}

// Every cached lookup hammered with changing and alternating ids from many
// clients at once, with cache lifetimes short enough that entries expire
// all the time. The process must stay up (a panic in a cache's goroutine
// would end the test binary), and every good key, session and link must
// keep opening what it opened before.
func TestCachedLookupsUnderChangingIDs(t *testing.T) {
	e := newEnv(t, func(o *server.Options) {
		o.KeyCacheTTL = 3 * time.Millisecond
		o.StatsCacheTTL = 2 * time.Millisecond
		o.StatsStaleFor = 5 * time.Millisecond
		o.Dashboard.Secret = testSecret
	})
	statsKey, _ := e.createKey(auth.StatsRead)
	dashKey, _ := e.createKey(auth.Dashboard)
	_, link, err := auth.NewLinks(e.conn, testSecret, 0).Create(context.Background(), "hammer", auth.Scope{Kind: auth.ScopeGroup, Value: "hammer-group"})
	if err != nil {
		t.Fatal(err)
	}
	cookie := e.signIn(dashKey)

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 64,
		DialContext:         (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).DialContext,
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(method, path, body string, header ...string) (int, string) {
		req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
		// Each request from another client, so that no address runs out of
		// failed authentications.
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", mathrand.N(250), mathrand.N(250)))
		req.Header.Set("User-Agent", browserUA)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	const query = `{"metrics":["views"]}`
	checks := []func(i int){
		func(i int) { // alternating and random shared-link ids
			id := []string{"00000000000000aa", "00000000000000bb", randomHex(8)}[i%3]
			if s, _ := get("GET", "/dashboard/s/"+id+".x", ""); s != 404 {
				t.Errorf("forged link %s: %d", id, s)
			}
		},
		func(i int) {
			if s, b := get("GET", "/dashboard/s/"+link, ""); s != 200 || !strings.Contains(b, "hammer-group") {
				t.Errorf("the good link: %d", s)
			}
		},
		func(i int) { // changing credential ids on every public counter
			id := fmt.Sprintf("hammer-%d", i%7)
			for _, p := range []string{"/api/v1/credentials/" + id + "/stats", "/awards/" + id + "/stats", "/badge/" + id + ".svg"} {
				if s, _ := get("GET", p, ""); s != 200 {
					t.Errorf("GET %s: %d", p, s)
				}
			}
		},
		func(i int) { // made-up keys of the right shape, and the good one
			if s, _ := get("POST", "/api/v1/query", query, "Authorization", "Bearer csk_"+randomHex(8)+"_"+randomHex(24)); s != 401 {
				t.Errorf("made-up key: %d", s)
			}
			if s, b := get("POST", "/api/v1/query", query, "Authorization", "Bearer "+statsKey); s != 200 {
				t.Errorf("the good key: %d %s", s, b)
			}
		},
		func(i int) { // forged session cookies, and the good one
			forged := fmt.Sprintf("%s=%s.%d.AAAA", dashboard.CookieName, randomHex(8), time.Now().Add(time.Hour).Unix())
			if s, _ := get("GET", "/dashboard", "", "Cookie", forged); s != 303 {
				t.Errorf("forged session: %d", s)
			}
			if s, _ := get("GET", "/dashboard", "", "Cookie", cookie); s != 200 {
				t.Errorf("the good session: %d", s)
			}
		},
	}
	var wg sync.WaitGroup
	var requests atomic.Int64
	stop := time.Now().Add(4 * time.Second)
	for g := range 16 {
		wg.Go(func() {
			for i := g; time.Now().Before(stop) && !t.Failed(); i++ {
				checks[i%len(checks)](i)
				requests.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d rounds of lookups", requests.Load())
}

// A client that tries made-up keys is refused before its attempts cost
// ClickHouse anything, and a key the store did not know is refused from
// memory after the first time.
func TestFailedAuthenticationsAreLimitedAndCached(t *testing.T) {
	proxy, err := faultproxy.Start(chtest.HostPort())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	e := newEnv(t, func(o *server.Options) {
		o.KeyCacheTTL = time.Minute
		o.ClickHouse = "clickhouse://" + proxy.Addr() + o.ClickHouse[strings.LastIndexByte(o.ClickHouse, '/'):]
	})
	bad := "csk_" + randomHex(8) + "_" + randomHex(24)
	query := func(key, from string) response {
		return e.do(request{method: "POST", path: "/api/v1/query", body: `{"metrics":["views"]}`, from: "127.0.0.3",
			header: map[string]string{"Authorization": "Bearer " + key, "X-Forwarded-For": from}})
	}
	if r := query(bad, "203.0.113.1"); r.status != 401 {
		t.Fatalf("unknown key: %d %s", r.status, r.body)
	}
	proxy.SetMode(faultproxy.Refuse)
	if r := query(bad, "203.0.113.2"); r.status != 401 {
		t.Errorf("the same unknown key with ClickHouse away: %d %s, want 401 from memory", r.status, r.body)
	}
	proxy.SetMode(faultproxy.Pass)

	var limited int
	for i := range 40 {
		r := query("csk_"+randomHex(8)+"_"+randomHex(24), "203.0.113.3")
		switch r.status {
		case 401:
			if limited > 0 {
				t.Fatalf("attempt %d: 401 after a 429", i)
			}
		case 429:
			limited++
			if r.errorCode() != "rate_limited" {
				t.Errorf("429 with %s", r.body)
			}
		default:
			t.Fatalf("attempt %d: %d %s", i, r.status, r.body)
		}
	}
	if limited == 0 {
		t.Error("40 made-up keys from one address were all checked")
	}
	if r := query(bad, "203.0.113.4"); r.status != 401 {
		t.Errorf("another address: %d, want 401", r.status)
	}
	// The same guard covers the dashboard's shared links.
	for range 30 {
		e.do(request{method: "GET", path: "/dashboard/s/" + randomHex(8) + ".x", from: "127.0.0.3", header: map[string]string{"X-Forwarded-For": "203.0.113.5"}})
	}
	if r := e.do(request{method: "GET", path: "/dashboard/s/" + randomHex(8) + ".x", from: "127.0.0.3", header: map[string]string{"X-Forwarded-For": "203.0.113.5"}}); r.status != 429 {
		t.Errorf("shared links after 30 made-up ones: %d, want 429", r.status)
	}
}

// Behind a proxy that appends its own X-Forwarded-For line, the client's
// identity is the rightmost untrusted hop of all lines, with or without a
// port, and an IPv6 client is one client across its /64.
func TestClientIdentityBehindProxies(t *testing.T) {
	e := newEnv(t, nil)
	send := func(credential string, xff ...string) bool {
		req, _ := http.NewRequest("POST", e.url+"/api/event", strings.NewReader(`{"credential":"`+credential+`","type":"view"}`))
		req.Header.Set("User-Agent", browserUA)
		req.Header.Set("Content-Type", "text/plain")
		for _, line := range xff {
			req.Header.Add("X-Forwarded-For", line)
		}
		client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).DialContext}}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("%d", resp.StatusCode)
		}
		return resp.Header.Get("X-Credstats-Dropped") == "duplicate"
	}
	f := func(credential string, first, second []string, wantDup bool) {
		t.Helper()
		send(credential, first...)
		if got := send(credential, second...); got != wantDup {
			t.Errorf("%v then %v: duplicate %v, want %v", first, second, got, wantDup)
		}
	}
	// The client's own line comes first; the proxy appends the address it saw.
	f("xff-lines", []string{"1.1.1.1", "203.0.113.7"}, []string{"2.2.2.2", "203.0.113.7"}, true)
	f("xff-ports", []string{"203.0.113.8:5555"}, []string{"198.51.100.9:1234"}, false)
	f("xff-same-port", []string{"203.0.113.8:5555"}, []string{"203.0.113.8:6666"}, true)
	f("xff-v6-64", []string{"[2001:db8:1:2::1]:443"}, []string{"2001:db8:1:2::ffff"}, true)
	f("xff-v6-other", []string{"2001:db8:1:2::1"}, []string{"2001:db8:1:3::1"}, false)
}

// Signing out is a form post, so it is refused from another site as
// signing in is.
func TestSignOutRefusesCrossSitePosts(t *testing.T) {
	e := newEnv(t, func(o *server.Options) { o.Dashboard.Secret = testSecret })
	dashKey, _ := e.createKey(auth.Dashboard)
	cookie := e.signIn(dashKey)
	signOut := func(origin string) (int, string) {
		req, _ := http.NewRequest("POST", e.url+"/dashboard/logout", nil)
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Origin", origin)
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Set-Cookie")
	}
	if status, set := signOut("https://evil.example"); status != 403 || set != "" {
		t.Errorf("cross-site sign-out: %d, Set-Cookie %q", status, set)
	}
	if status, set := signOut(e.url); status != 303 || !strings.HasPrefix(set, dashboard.CookieName+"=;") {
		t.Errorf("same-site sign-out: %d, Set-Cookie %q", status, set)
	}
}

// signIn signs in to the dashboard with a key and returns the session
// cookie as a Cookie header's value.
func (e *env) signIn(key string) string {
	e.t.Helper()
	form := "key=" + key + "&next=/dashboard"
	req, _ := http.NewRequest("POST", e.url+"/dashboard/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.url)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == dashboard.CookieName && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	e.t.Fatalf("sign-in gave %d and no session cookie", resp.StatusCode)
	return ""
}
