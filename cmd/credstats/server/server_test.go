package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/cmd/credstats/server"
	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/testutil/chtest"
	"github.com/credstats/credstats/internal/testutil/fakeclock"
)

const browserUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"

// env is one running credstats server on a fresh database.
type env struct {
	t       *testing.T
	dsn     string
	conn    driver.Conn
	clock   *fakeclock.Clock
	dataDir string
	log     *bytes.Buffer
	srv     *server.Server
	url     string
	opts    func(*server.Options)
}

func newEnv(t *testing.T, opts func(*server.Options)) *env {
	dsn, conn := chtest.New(t)
	e := &env{
		t: t, dsn: dsn, conn: conn, opts: opts,
		clock:   fakeclock.New(time.Now().UTC().Truncate(time.Second)),
		dataDir: t.TempDir(),
		log:     &bytes.Buffer{},
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *env) start() {
	e.t.Helper()
	e.launch()
	for deadline := time.Now().Add(30 * time.Second); !e.srv.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			logMu.Lock()
			defer logMu.Unlock()
			e.t.Fatalf("the server did not get ready in 30 s:\n%s", e.log)
		}
	}
}

// launch starts the server without waiting for it to be ready.
func (e *env) launch() {
	e.t.Helper()
	o := server.Options{
		ClickHouse:  e.dsn,
		KeyCacheTTL: -1,
		Logger:      slog.New(slog.NewTextHandler(syncWriter{w: e.log}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Collector: collector.Options{
			DataDir:        e.dataDir,
			Now:            e.clock.Now,
			FlushInterval:  20 * time.Millisecond,
			TrustedProxies: []string{"127.0.0.3"},
			RateLimit:      -1,
		},
	}
	if e.opts != nil {
		e.opts(&o)
	}
	srv, err := server.New(context.Background(), o)
	if err != nil {
		e.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	go srv.Serve(ln)
	e.srv, e.url = srv, "http://"+ln.Addr().String()
}

func (e *env) stop() {
	if e.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Errorf("shutdown: %v", err)
	}
	e.srv = nil
}

var logMu sync.Mutex

type syncWriter struct{ w io.Writer }

func (s syncWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return s.w.Write(p)
}

// request is one HTTP request to the server.
type request struct {
	method, path, body string
	from               string // local source address, default 127.0.0.1
	header             map[string]string
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) errorCode() string {
	var env struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal([]byte(r.body), &env)
	return env.Error.Code
}

func (e *env) do(r request) response {
	e.t.Helper()
	from := r.from
	if from == "" {
		from = "127.0.0.1"
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext,
	}}
	req, err := http.NewRequest(r.method, e.url+r.path, strings.NewReader(r.body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("User-Agent", browserUA)
	if r.body != "" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (e *env) post(path, body string) response {
	e.t.Helper()
	return e.do(request{method: "POST", path: path, body: body})
}

// row is a stored event, as the tests look at it.
type row struct {
	Credential, Type, Network, Actor, Source, BotReason, Group string
}

// sync sends a marker event and waits until it is stored: the batch writer
// keeps order, so everything accepted before it is stored too. It waits for
// the rollup as well, which ClickHouse writes after the events table.
func (e *env) sync() {
	e.t.Helper()
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	if r := e.post("/api/event", `{"credential":"`+marker+`","type":"verify"}`); r.status != 202 {
		e.t.Fatalf("marker: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var n uint64
		if err := e.conn.QueryRow(context.Background(), "SELECT count() FROM credential_daily WHERE credential = ?", marker).Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		if n == 1 && e.written() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("marker event never reached ClickHouse; log:\n%s", e.log)
}

// written reports whether every accepted event's INSERT has returned:
// ClickHouse shows each view's table as its view is done, so the marker
// in credential_daily alone does not say the other rollups have it.
func (e *env) written() bool {
	r := e.do(request{method: "GET", path: "/readyz"})
	var ready struct {
		Backlog struct {
			Unwritten int64 `json:"unwritten_bytes"`
			Queued    int   `json:"queued_events"`
		}
	}
	return json.Unmarshal([]byte(r.body), &ready) == nil && ready.Backlog.Unwritten == 0 && ready.Backlog.Queued == 0
}

func sameRows(a, b []row) bool {
	key := func(r row) string { return fmt.Sprint(r) }
	count := map[string]int{}
	for _, r := range a {
		count[key(r)]++
	}
	for _, r := range b {
		count[key(r)]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}

// rows returns the stored events of a credential (markers left out).
func (e *env) rows(credential string) []row {
	e.t.Helper()
	e.sync()
	rs, err := e.conn.Query(context.Background(), `SELECT credential, toString(type), toString(network), toString(actor),
		toString(source), toString(bot_reason), group_id FROM events WHERE credential = ? ORDER BY time, id`, credential)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.Credential, &r.Type, &r.Network, &r.Actor, &r.Source, &r.BotReason, &r.Group); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (e *env) count(where string, args ...any) uint64 {
	e.t.Helper()
	e.sync()
	var n uint64
	if err := e.conn.QueryRow(context.Background(), "SELECT count() FROM events WHERE "+where, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) stats(credential string) map[string]any {
	e.t.Helper()
	e.sync()
	r := e.do(request{method: "GET", path: "/api/v1/credentials/" + credential + "/stats"})
	if r.status != 200 {
		e.t.Fatalf("stats: %d %s", r.status, r.body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) createKey(scopes ...string) (token, id string) {
	e.t.Helper()
	token, k, err := auth.NewKeys(e.conn, 0).Create(context.Background(), "test", scopes)
	if err != nil {
		e.t.Fatal(err)
	}
	return token, k.ID
}

func TestEveryEventKindLands(t *testing.T) {
	e := newEnv(t, nil)
	want := map[string][]row{}
	send := func(typ, network, actor string) {
		t.Helper()
		cred := "kinds-" + actor
		body := fmt.Sprintf(`{"credential":%q,"type":%q,"network":%q,"actor":%q,"group":"g1","url":"https://certs.example.org/c/kinds?utm=x"}`, cred, typ, network, actor)
		if r := e.post("/api/event", body); r.status != 202 || r.header.Get("X-Credstats-Dropped") != "" {
			t.Fatalf("%s/%s/%s: %d %s", typ, network, actor, r.status, r.body)
		}
		want[cred] = append(want[cred], row{cred, typ, network, actor, "beacon", "", "g1"})
	}
	for _, actor := range []string{"recipient", "guest"} {
		for _, typ := range []string{"view", "download", "verify", "linkedin_add", "link_copy"} {
			send(typ, "", actor)
		}
		for _, network := range []string{"linkedin", "twitter", "facebook", "messenger", "whatsapp", "pinterest", "telegram", "weibo", "email", "other"} {
			send("share", network, actor)
		}
	}
	// JSON content type and the default actor.
	r := e.do(request{method: "POST", path: "/api/event", body: `{"credential":"kinds2","type":"view"}`, header: map[string]string{"Content-Type": "application/json"}})
	if r.status != 202 {
		t.Fatalf("application/json: %d %s", r.status, r.body)
	}
	for cred, want := range want {
		if got := e.rows(cred); !sameRows(got, want) {
			t.Errorf("stored:\n%v\nwant:\n%v", got, want)
		}
	}
	if got := e.rows("kinds2"); len(got) != 1 || got[0].Actor != "guest" {
		t.Errorf("default actor: %v", got)
	}
	var host, path string
	if err := e.conn.QueryRow(context.Background(), "SELECT url_host, url_path FROM events WHERE credential = 'kinds-guest' LIMIT 1").Scan(&host, &path); err != nil || host != "certs.example.org" || path != "/c/kinds" {
		t.Errorf("url stored as %q %q (%v), want host and path only", host, path, err)
	}
}

func TestPixel(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(request{method: "GET", path: "/api/event.gif?credential=px&type=share&network=whatsapp&actor=recipient"})
	if r.status != 200 || r.header.Get("Content-Type") != "image/gif" || !strings.HasPrefix(r.body, "GIF89a") {
		t.Fatalf("pixel: %d %s %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	if got := e.rows("px"); !reflect.DeepEqual(got, []row{{"px", "share", "whatsapp", "recipient", "pixel", "", ""}}) {
		t.Errorf("stored %v", got)
	}
	if r := e.do(request{method: "GET", path: "/api/event.gif?credential=px&type=nope"}); r.status != 400 || r.errorCode() != "invalid_request" {
		t.Errorf("bad pixel: %d %s", r.status, r.body)
	}
}

func TestDedupPerAddressAndWindow(t *testing.T) {
	e := newEnv(t, nil)
	view := `{"credential":"dd","type":"view"}`
	for i, want := range []string{"", "duplicate", "duplicate"} {
		r := e.post("/api/event", view)
		if r.status != 202 || r.header.Get("X-Credstats-Dropped") != want {
			t.Fatalf("view %d: %d, dropped %q, want %q", i, r.status, r.header.Get("X-Credstats-Dropped"), want)
		}
	}
	// Another client address counts again; so does another type or network.
	if r := e.do(request{method: "POST", path: "/api/event", body: view, from: "127.0.0.2"}); r.header.Get("X-Credstats-Dropped") != "" {
		t.Fatalf("second address dropped as %q", r.header.Get("X-Credstats-Dropped"))
	}
	if r := e.post("/api/event", `{"credential":"dd","type":"share","network":"linkedin"}`); r.header.Get("X-Credstats-Dropped") != "" {
		t.Fatal("share after view dropped")
	}
	if r := e.post("/api/event", `{"credential":"dd","type":"share","network":"twitter"}`); r.header.Get("X-Credstats-Dropped") != "" {
		t.Fatal("share to another network dropped")
	}
	// The recipient is another person than a guest behind the same address.
	if r := e.post("/api/event", `{"credential":"dd","type":"share","network":"twitter","actor":"recipient"}`); r.header.Get("X-Credstats-Dropped") != "" {
		t.Fatal("the recipient's share after a guest's from the same address dropped")
	}
	// The window slides from the first counted view, across midnight.
	e.clock.Advance(23*time.Hour + 59*time.Minute)
	if r := e.post("/api/event", view); r.header.Get("X-Credstats-Dropped") != "duplicate" {
		t.Fatal("view inside 24h counted again")
	}
	e.clock.Advance(time.Minute)
	if r := e.post("/api/event", view); r.header.Get("X-Credstats-Dropped") != "" {
		t.Fatal("view after 24h dropped")
	}
	if n := e.count("credential = 'dd' AND type = 'view'"); n != 3 {
		t.Errorf("%d views stored, want 3 (two addresses, then one after 24h)", n)
	}
	if got := e.stats("dd"); got["views"] != 3.0 {
		t.Errorf("stats views %v, want 3", got["views"])
	}
}

func TestDedupSurvivesRestart(t *testing.T) {
	e := newEnv(t, nil)
	view := `{"credential":"restart","type":"view"}`
	if r := e.post("/api/event", view); r.header.Get("X-Credstats-Dropped") != "" {
		t.Fatal("first view dropped")
	}
	e.stop()
	e.clock.Advance(2 * time.Hour)
	e.start()
	if r := e.post("/api/event", view); r.status != 202 || r.header.Get("X-Credstats-Dropped") != "duplicate" {
		t.Fatalf("after restart: %d, dropped %q; want a duplicate", r.status, r.header.Get("X-Credstats-Dropped"))
	}
	if n := e.count("credential = 'restart'"); n != 1 {
		t.Errorf("%d stored, want 1", n)
	}
}

func TestBotsAreStoredButNotCounted(t *testing.T) {
	e := newEnv(t, nil)
	for ua, reason := range map[string]string{
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)":                                      "crawler",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36": "headless",
		"curl/8.5.0": "not_browser",
		"":           "no_user_agent",
	} {
		r := e.do(request{method: "POST", path: "/api/event", body: `{"credential":"bots","type":"view"}`, header: map[string]string{"User-Agent": ua}})
		if r.status != 202 {
			t.Fatalf("%q: %d", ua, r.status)
		}
		if n := e.count("credential = 'bots' AND bot_reason = ?", reason); n != 1 {
			t.Errorf("%q: %d stored with reason %s, want 1", ua, n, reason)
		}
	}
	if got := e.stats("bots"); got["views"] != 0.0 {
		t.Errorf("bots counted: views %v", got["views"])
	}
}

func TestBadInputIsRefusedAndNotStored(t *testing.T) {
	e := newEnv(t, nil)
	big := `{"credential":"bad","type":"view","url":"https://e.org/` + strings.Repeat("a", 5000) + `"}`
	for _, c := range []struct {
		body, contentType string
		status            int
		code, field       string
	}{
		{`{"credential":"bad","type":"view"`, "", 400, "invalid_request", "malformed"},
		{`[]`, "", 400, "invalid_request", "object"},
		{`{"credential":"bad","type":"click"}`, "", 400, "invalid_request", "type"},
		{`{"credential":"bad"}`, "", 400, "invalid_request", "type"},
		{`{"type":"view"}`, "", 400, "invalid_request", "credential"},
		{`{"credential":"b a d","type":"view"}`, "", 400, "invalid_request", "credential"},
		{`{"credential":"` + strings.Repeat("x", 129) + `","type":"view"}`, "", 400, "invalid_request", "credential"},
		{`{"credential":"bad","type":"share"}`, "", 400, "invalid_request", "network"},
		{`{"credential":"bad","type":"share","network":"myspace"}`, "", 400, "invalid_request", "network"},
		{`{"credential":"bad","type":"view","network":"linkedin"}`, "", 400, "invalid_request", "network"},
		{`{"credential":"bad","type":"view","actor":"root"}`, "", 400, "invalid_request", "actor"},
		{`{"credential":"bad","type":"view","group":"a/b"}`, "", 400, "invalid_request", "group"},
		{`{"credential":"bad","type":"view","url":"ftp://x/y"}`, "", 400, "invalid_request", "url"},
		{`{"credential":"bad","type":"view","referrer":"` + strings.Repeat("r", 2001) + `"}`, "", 400, "invalid_request", "referrer"},
		{`{"credential":7,"type":"view"}`, "", 400, "invalid_request", "credential"},
		{`{"credential":"bad","type":"view"}`, "application/xml", 400, "invalid_request", "Content-Type"},
		{big, "", 413, "payload_too_large", "large"},
	} {
		h := map[string]string{}
		if c.contentType != "" {
			h["Content-Type"] = c.contentType
		}
		r := e.do(request{method: "POST", path: "/api/event", body: c.body, header: h})
		if r.status != c.status || r.errorCode() != c.code || !strings.Contains(r.body, c.field) {
			t.Errorf("%.60s: %d %s; want %d %s naming %q", c.body, r.status, r.body, c.status, c.code, c.field)
		}
	}
	// A body past the server's own limit is refused before any handler,
	// from its Content-Length. The client waits for that answer before it
	// sends the body (Expect: 100-continue), or the server's close could
	// reset the connection while the body is still on its way.
	// fasthttp answers 100 Continue before it reads the length, though, so
	// on a busy machine the close can still cut the client's write: such a
	// cut is tried again, and any answer must be the 413.
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}
	for attempt := 1; ; attempt++ {
		req, _ := http.NewRequest("POST", e.url+"/api/event", strings.NewReader(strings.Repeat("x", 100<<10)))
		req.Header.Set("Expect", "100-continue")
		resp, err := client.Do(req)
		if err != nil {
			if attempt < 10 && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
				continue
			}
			t.Errorf("100 KiB body: %v", err)
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if r := (response{status: resp.StatusCode, body: string(b)}); r.status != 413 || r.errorCode() != "payload_too_large" {
			t.Errorf("100 KiB body: %d %s", r.status, r.body)
		}
		break
	}
	if got := e.rows("bad"); len(got) != 0 {
		t.Errorf("bad input stored: %v", got)
	}
	if r := e.do(request{method: "GET", path: "/api/v1/credentials/a%20b/stats"}); r.status != 400 || r.errorCode() != "invalid_request" {
		t.Errorf("stats with a bad id: %d %s", r.status, r.body)
	}
	if r := e.do(request{method: "GET", path: "/no/such/route"}); r.status != 404 || r.errorCode() != "not_found" {
		t.Errorf("unknown route: %d %s", r.status, r.body)
	}
}

func TestCertifierCompatible(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.createKey(auth.EventsWrite)
	send := func(token, version, body string) response {
		h := map[string]string{"Content-Type": "application/json"}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		if version != "" {
			h["Certifier-Version"] = version
		}
		return e.do(request{method: "POST", path: "/v1/credential-interactions", body: body, header: h})
	}
	at := e.clock.Now().Add(-time.Hour).Format(time.RFC3339)
	interaction := func(credential, eventType, by string) string {
		return fmt.Sprintf(`{"credentialId":%q,"eventType":%q,"triggeredBy":%q,"triggeredAt":%q}`, credential, eventType, by, at)
	}
	wantRows := map[string]row{
		"credential_viewed":                    {"", "view", "", "recipient", "api", "", ""},
		"credential_shared_to_linkedin":        {"", "share", "linkedin", "recipient", "api", "", ""},
		"credential_added_to_linkedin_profile": {"", "linkedin_add", "", "recipient", "api", "", ""},
		"credential_shared_to_facebook":        {"", "share", "facebook", "recipient", "api", "", ""},
		"credential_shared_to_twitter":         {"", "share", "twitter", "recipient", "api", "", ""},
		"credential_shared_to_messenger":       {"", "share", "messenger", "recipient", "api", "", ""},
		"credential_shared_to_whatsapp":        {"", "share", "whatsapp", "recipient", "api", "", ""},
		"credential_shared_to_pinterest":       {"", "share", "pinterest", "recipient", "api", "", ""},
		"credential_shared_to_telegram":        {"", "share", "telegram", "recipient", "api", "", ""},
		"credential_shared_to_weibo":           {"", "share", "weibo", "recipient", "api", "", ""},
		"credential_downloaded":                {"", "download", "", "recipient", "api", "", ""},
		"credential_link_copied":               {"", "link_copy", "", "recipient", "api", "", ""},
		"credential_verified":                  {"", "verify", "", "recipient", "api", "", ""},
	}
	for i, typ := range []string{"credential_viewed", "credential_shared_to_linkedin", "credential_added_to_linkedin_profile",
		"credential_shared_to_facebook", "credential_shared_to_twitter", "credential_shared_to_messenger",
		"credential_shared_to_whatsapp", "credential_shared_to_pinterest", "credential_shared_to_telegram",
		"credential_shared_to_weibo", "credential_downloaded", "credential_link_copied", "credential_verified"} {
		cred := fmt.Sprintf("cert-%d", i)
		r := send(token, "2022-10-26", interaction(cred, typ, "recipient"))
		var got struct{ ID, CredentialID, EventType, TriggeredBy, TriggeredAt string }
		json.Unmarshal([]byte(r.body), &got)
		if r.status != 200 || len(got.ID) != 26 || got.CredentialID != cred || got.EventType != typ || got.TriggeredBy != "recipient" {
			t.Fatalf("%s: %d %s", typ, r.status, r.body)
		}
		want := wantRows[typ]
		want.Credential = cred
		if rows := e.rows(cred); !reflect.DeepEqual(rows, []row{want}) {
			t.Errorf("%s stored %v, want %v", typ, rows, want)
		}
	}
	// The integrator's server sends for many people: no per-address dedup,
	// and its time is kept.
	for range 2 {
		if r := send(token, "2022-10-26", interaction("cert-guest", "credential_viewed", "guest")); r.status != 200 {
			t.Fatalf("guest view: %d %s", r.status, r.body)
		}
	}
	if n := e.count("credential = 'cert-guest' AND actor = 'guest' AND time = toDateTime(?)", e.clock.Now().Add(-time.Hour).Unix()); n != 2 {
		t.Errorf("%d guest views stored at triggeredAt, want 2", n)
	}

	// The document's own example, years old, with the scheme in lower case
	// as RFC 7235 allows.
	example := `{"credentialId": "01hrsvjp560yksep2a3bek3z97", "eventType": "credential_viewed", "triggeredBy": "recipient", "triggeredAt": "2024-03-12T17:33:05.784Z"}`
	r := e.do(request{method: "POST", path: "/v1/credential-interactions", body: example,
		header: map[string]string{"Content-Type": "application/json", "authorization": "bearer " + token, "Certifier-Version": "2022-10-26"}})
	if r.status != 200 {
		t.Errorf("the documented example: %d %s", r.status, r.body)
	}
	if n := e.count("credential = '01hrsvjp560yksep2a3bek3z97' AND time = toDateTime('2024-03-12 17:33:05', 'UTC')"); n != 1 {
		t.Errorf("the documented example stored %d times at its triggeredAt, want 1", n)
	}

	statsToken, _ := e.createKey(auth.StatsRead)
	revoked, revokedID := e.createKey(auth.EventsWrite)
	if err := auth.NewKeys(e.conn, 0).Revoke(context.Background(), revokedID); err != nil {
		t.Fatal(err)
	}
	ok := interaction("cert-bad", "credential_viewed", "guest")
	for _, c := range []struct {
		name, token, version, body string
		status                     int
		code                       string
	}{
		{"no key", "", "2022-10-26", ok, 401, "unauthorized"},
		{"unknown key", "csk_0123456789abcdef_" + strings.Repeat("0", 48), "2022-10-26", ok, 401, "unauthorized"},
		{"garbage key", "hello", "2022-10-26", ok, 401, "unauthorized"},
		{"revoked key", revoked, "2022-10-26", ok, 401, "unauthorized"},
		{"wrong scope", statsToken, "2022-10-26", ok, 403, "forbidden"},
		{"no version", token, "", ok, 400, "missing_version"},
		{"bad version", token, "latest", ok, 400, "invalid_version"},
		{"a date that is no version", token, "2020-01-01", ok, 400, "invalid_version"},
		{"a future date", token, "2099-01-01", ok, 400, "invalid_version"},
		{"malformed JSON", token, "2022-10-26", `{"credentialId":`, 400, "invalid_json"},
		{"unknown event type", token, "2022-10-26", interaction("cert-bad", "credential_liked", "guest"), 400, "validation_error"},
		{"bad actor", token, "2022-10-26", interaction("cert-bad", "credential_viewed", "issuer"), 400, "validation_error"},
		{"bad credential", token, "2022-10-26", interaction("cert bad", "credential_viewed", "guest"), 400, "validation_error"},
		{"future", token, "2022-10-26", strings.Replace(ok, at, e.clock.Now().Add(time.Hour).Format(time.RFC3339), 1), 400, "validation_error"},
		{"past the floor", token, "2022-10-26", strings.Replace(ok, at, e.clock.Now().AddDate(-6, 0, 0).Format(time.RFC3339), 1), 400, "validation_error"},
		{"not a time", token, "2022-10-26", strings.Replace(ok, at, "yesterday", 1), 400, "validation_error"},
		{"too large", token, "2022-10-26", `{"x":"` + strings.Repeat("a", 5000) + `"}`, 413, "payload_too_large"},
	} {
		if r := send(c.token, c.version, c.body); r.status != c.status || r.errorCode() != c.code {
			t.Errorf("%s: %d %s; want %d %s", c.name, r.status, r.body, c.status, c.code)
		}
	}
	if n := e.count("credential LIKE 'cert%bad'"); n != 0 {
		t.Errorf("%d refused interactions stored", n)
	}
}

func TestBadgesNinjaCompatible(t *testing.T) {
	e := newEnv(t, nil)
	send := func(id, body string) response {
		return e.do(request{method: "POST", path: "/awards/" + id + "/event", body: body, header: map[string]string{"Content-Type": "application/json"}})
	}
	// Each from its own address: the route counts one event of a kind
	// from an address, whatever the network.
	for i, c := range []struct{ kind, network, typ, wantNetwork string }{
		{"view", "", "view", ""},
		{"share", "linkedin", "share", "linkedin"},
		{"share", "x", "share", "twitter"},
		{"share", "copy", "link_copy", ""},
		{"download", "", "download", ""},
		{"linkedin_add", "", "linkedin_add", ""},
	} {
		r := e.do(request{method: "POST", path: "/awards/award-1/event", body: fmt.Sprintf(`{"parameters":{"kind":%q,"network":%q}}`, c.kind, c.network),
			from: "127.0.0.3", header: map[string]string{"Content-Type": "application/json", "X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i+1)}})
		var got struct {
			StatusCode int `json:"statusCode"`
		}
		json.Unmarshal([]byte(r.body), &got)
		if r.status != 200 || got.StatusCode != 200 {
			t.Fatalf("%s/%s: %d %s", c.kind, c.network, r.status, r.body)
		}
		if n := e.count("credential = 'award-1' AND type = ? AND network = ?", c.typ, c.wantNetwork); n != 1 {
			t.Errorf("%s/%s: %d stored as %s/%s", c.kind, c.network, n, c.typ, c.wantNetwork)
		}
	}
	r := e.do(request{method: "GET", path: "/awards/award-1/stats"})
	var st struct {
		StatusCode int `json:"statusCode"`
		Info       struct {
			Stats struct {
				Views        int            `json:"views"`
				Shares       map[string]int `json:"shares"`
				Downloads    int            `json:"downloads"`
				LinkedInAdds int            `json:"linkedin_adds"`
			} `json:"stats"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(r.body), &st); err != nil || st.StatusCode != 200 {
		t.Fatalf("stats: %d %s", r.status, r.body)
	}
	if s := st.Info.Stats; s.Views != 1 || s.Shares["linkedin"] != 1 || s.Shares["twitter"] != 1 || s.Shares["copy"] != 1 || s.Downloads != 1 || s.LinkedInAdds != 1 {
		t.Errorf("stats %+v", s)
	}

	// "The same kind from the same IP is counted once per 24 hours."
	first := send("award-3", `{"parameters":{"kind":"share","network":"linkedin"}}`)
	second := send("award-3", `{"parameters":{"kind":"share","network":"x"}}`)
	if !strings.Contains(first.body, `"recorded":true`) || !strings.Contains(second.body, `"recorded":false`) || second.header.Get("X-Credstats-Dropped") != "duplicate" {
		t.Errorf("two shares from one address: %s, then %s %v", first.body, second.body, second.header)
	}
	// A request that is stored but not counted says so, as on every route.
	r = e.do(request{method: "POST", path: "/awards/award-4/event", body: `{"parameters":{"kind":"view"}}`,
		header: map[string]string{"Content-Type": "application/json", "User-Agent": "curl/8.5.0"}})
	if !strings.Contains(r.body, `"recorded":false`) || r.header.Get("X-Credstats-Dropped") != "bot" {
		t.Errorf("a view from curl: %s %v", r.body, r.header)
	}
	if r := e.do(request{method: "POST", path: "/api/event", body: `{"credential":"award-4","type":"view"}`, header: map[string]string{"User-Agent": "curl/8.5.0"}}); r.header.Get("X-Credstats-Dropped") != "bot" {
		t.Errorf("a beacon event from curl: %d %v", r.status, r.header)
	}
	// Refusals speak this API's words.
	for body, want := range map[string]string{
		`{"parameters":{"kind":"poke"}}`:                      "kind: must be one of view, share, download, linkedin_add",
		`{"parameters":{"kind":"share","network":"myspace"}}`: "copy",
		`{"parameters":{"kind":"share"}}`:                     "kind is share",
	} {
		if r := send("award-5", body); r.status != 400 || !strings.Contains(r.body, want) {
			t.Errorf("%s: %d %s; want a message with %q", body, r.status, r.body, want)
		}
	}
	for _, c := range []struct {
		id, body string
		status   int
	}{
		{"award-2", `{"parameters":{}}`, 400},
		{"award-2", `{"parameters":{"kind":"poke"}}`, 400},
		{"award-2", `{"parameters":{"kind":"share"}}`, 400},
		{"award-2", `{"parameters":`, 400},
		{"bad%20id", `{"parameters":{"kind":"view"}}`, 400},
	} {
		r := send(c.id, c.body)
		var env struct{ Error string }
		if json.Unmarshal([]byte(r.body), &env); r.status != c.status || env.Error == "" {
			t.Errorf("%s %s: %d %s; want %d with {\"error\": ...}", c.id, c.body, r.status, r.body, c.status)
		}
	}
	if n := e.count("credential = 'award-2'"); n != 0 {
		t.Errorf("%d refused events stored", n)
	}
}

func TestNoClientAddressIsStoredOrLogged(t *testing.T) {
	const client = "203.0.113.77"
	e := newEnv(t, nil)
	// 127.0.0.3 is a trusted proxy: the client address comes from the header.
	r := e.do(request{method: "POST", path: "/api/event", from: "127.0.0.3", body: `{"credential":"privacy","type":"view","referrer":"https://www.linkedin.com/feed/"}`,
		header: map[string]string{"X-Forwarded-For": "198.51.100.1, " + client}})
	if r.status != 202 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// An untrusted peer cannot choose its address.
	e.do(request{method: "POST", path: "/api/event", from: "127.0.0.2", body: `{"credential":"privacy","type":"view"}`,
		header: map[string]string{"X-Forwarded-For": "192.0.2.99"}})
	e.post("/api/event", `{"credential":"privacy","type":"bogus"}`) // a logged error path
	e.sync()
	// Every readable column of every table; aggregate states are computed
	// from the events table's columns only.
	tables := map[string][]string{}
	rows, err := e.conn.Query(context.Background(), `SELECT table, name FROM system.columns
		WHERE database = currentDatabase() AND type NOT LIKE 'AggregateFunction%'
		AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT LIKE '%View')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, column string
		rows.Scan(&table, &column)
		tables[table] = append(tables[table], column)
	}
	rows.Close()
	if len(tables["events"]) < 10 {
		t.Fatalf("columns found: %v", tables)
	}
	needles := []string{client, "127.0.0.2", "127.0.0.3", "192.0.2.99", "198.51.100.1"}
	for table, columns := range tables {
		rs, err := e.conn.Query(context.Background(), "SELECT "+strings.Join(columns, ", ")+" FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		types := rs.ColumnTypes()
		for rs.Next() {
			vals := make([]any, len(types))
			for i, ct := range types {
				vals[i] = reflect.New(ct.ScanType()).Interface()
			}
			if err := rs.Scan(vals...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				s := fmt.Sprint(reflect.ValueOf(v).Elem().Interface())
				for _, n := range needles {
					if strings.Contains(s, n) {
						t.Errorf("%s.%s holds a client address: %s", table, types[i].Name(), s)
					}
				}
			}
		}
		rs.Close()
	}
	if n := e.count("credential = 'privacy' AND country = 'US'"); n != 0 {
		t.Errorf("an untrusted X-Forwarded-For was believed")
	}
	logMu.Lock()
	logs := e.log.String()
	logMu.Unlock()
	for _, n := range needles {
		if strings.Contains(logs, n) {
			t.Errorf("log holds client address %s:\n%s", n, logs)
		}
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(o *server.Options) { o.Collector.RateLimit, o.Collector.RateBurst = 1, 3 })
	var codes []int
	for i := range 5 {
		codes = append(codes, e.post("/api/event", fmt.Sprintf(`{"credential":"rl-%d","type":"view"}`, i)).status)
	}
	if !reflect.DeepEqual(codes, []int{202, 202, 202, 429, 429}) {
		t.Errorf("statuses %v, want a burst of 3 then 429", codes)
	}
	if r := e.post("/api/event", `{"credential":"rl","type":"view"}`); r.errorCode() != "rate_limited" {
		t.Errorf("over the limit: %d %s", r.status, r.body)
	}
	// Another address has its own budget.
	if r := e.do(request{method: "POST", path: "/api/event", from: "127.0.0.2", body: `{"credential":"rl","type":"view"}`}); r.status != 202 {
		t.Errorf("second address: %d", r.status)
	}
	e.clock.Advance(2 * time.Second)
	if r := e.post("/api/event", `{"credential":"rl-later","type":"view"}`); r.status != 202 {
		t.Errorf("after refill: %d", r.status)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do(request{method: "GET", path: "/healthz"}); r.status != 200 {
		t.Errorf("healthz %d", r.status)
	}
	if r := e.do(request{method: "GET", path: "/readyz"}); r.status != 200 || !strings.Contains(r.body, "ready") {
		t.Errorf("readyz %d %s", r.status, r.body)
	}
	if r := e.post("/api/event", `{"credential":"metrics-commit","type":"view"}`); r.status != 202 {
		t.Fatalf("POST /api/event: %d %s", r.status, r.body)
	}
	r := e.do(request{method: "GET", path: "/metrics"})
	if r.status != 200 || !strings.Contains(r.body, "credstats_queue_depth") || !strings.Contains(r.body, "credstats_dedup_evictions_total") {
		t.Errorf("metrics %d", r.status)
	}
	// The accepted event went through one of the spool's group commits.
	for _, name := range []string{"credstats_spool_commits_total", "credstats_spool_committed_appends_total"} {
		if !regexp.MustCompile(`(?m)^` + name + ` [1-9]`).MatchString(r.body) {
			t.Errorf("/metrics has no %s of at least 1 after an accepted event", name)
		}
	}
	// A schema left half-way makes the server unready.
	if err := e.conn.Exec(context.Background(), "INSERT INTO schema_migrations (version, dirty, applied_at, seq) SELECT 3, 1, now(), ?", uint64(time.Now().UnixNano())); err != nil {
		t.Fatal(err)
	}
	if r := e.do(request{method: "GET", path: "/readyz"}); r.status != 503 || r.errorCode() != "unavailable" {
		t.Errorf("readyz on a dirty schema: %d %s", r.status, r.body)
	}
}

func TestRoles(t *testing.T) {
	for _, c := range []struct {
		role        string
		ingest, api int
	}{
		{server.RoleCollector, 202, 404},
		{server.RoleAggregator, 404, 200},
		{server.RoleAll, 202, 200},
	} {
		t.Run(c.role, func(t *testing.T) {
			e := newEnv(t, func(o *server.Options) { o.Role = c.role })
			if r := e.post("/api/event", `{"credential":"roles","type":"view"}`); r.status != c.ingest {
				t.Errorf("POST /api/event: %d, want %d", r.status, c.ingest)
			}
			if r := e.do(request{method: "GET", path: "/api/v1/credentials/roles/stats"}); r.status != c.api {
				t.Errorf("GET stats: %d, want %d", r.status, c.api)
			}
			if r := e.do(request{method: "GET", path: "/readyz"}); r.status != 200 || !strings.Contains(r.body, c.role) {
				t.Errorf("readyz: %d %s", r.status, r.body)
			}
		})
	}
}

// TestUniqueViewersCountPeopleNotIntegrators: views sent through the
// Certifier-compatible API come from the integrator's server and have no
// visitor, so the counters and the query API count as unique viewers only
// the people whose browsers sent views; the API's optional groupId gives
// those events their group.
func TestUniqueViewersCountPeopleNotIntegrators(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.createKey(auth.EventsWrite)
	stats, _ := e.createKey(auth.StatsRead)
	at := e.clock.Now().Add(-time.Minute).Format(time.RFC3339)
	for range 5 {
		body := fmt.Sprintf(`{"credentialId":"uv","eventType":"credential_viewed","triggeredBy":"guest","triggeredAt":%q,"groupId":"course-9"}`, at)
		r := e.do(request{method: "POST", path: "/v1/credential-interactions", body: body,
			header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token, "Certifier-Version": "2022-10-26"}})
		if r.status != 200 {
			t.Fatalf("interaction: %d %s", r.status, r.body)
		}
	}
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		if r := e.do(request{method: "POST", path: "/api/event", body: `{"credential":"uv","type":"view","group":"course-9"}`, from: from}); r.status != 202 {
			t.Fatalf("beacon view: %d %s", r.status, r.body)
		}
	}
	if n := e.count("credential = 'uv' AND group_id = 'course-9'"); n != 7 {
		t.Errorf("%d of 7 views stored in group course-9", n)
	}
	var people uint64
	if err := e.conn.QueryRow(context.Background(), "SELECT uniqIf(visitor, visitor != 0) FROM events WHERE credential = 'uv'").Scan(&people); err != nil || people != 2 {
		t.Fatalf("raw events hold %d visitors (%v), want 2", people, err)
	}
	if got := e.stats("uv"); got["views"] != 7.0 || got["unique_viewers"] != float64(people) {
		t.Errorf("counters: %v views, %v unique viewers; want 7 and %d", got["views"], got["unique_viewers"], people)
	}
	q := `{"metrics":["views","unique_viewers"],"dimensions":["group"],"filters":[["is","credential",["uv"]]],"date_range":"7d"}`
	r := e.do(request{method: "POST", path: "/api/v1/query", body: q,
		header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + stats}})
	var answer struct {
		Rows []struct {
			Dimensions []string
			Metrics    []float64
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.body), &answer); err != nil || r.status != 200 {
		t.Fatalf("query: %d %s", r.status, r.body)
	}
	if len(answer.Rows) != 1 || answer.Rows[0].Dimensions[0] != "course-9" || answer.Rows[0].Metrics[0] != 7 || answer.Rows[0].Metrics[1] != float64(people) {
		t.Errorf("query answered %s; want course-9 with 7 views and %d unique viewers", r.body, people)
	}
}
