package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/credstats/credstats/compat"
	"github.com/credstats/credstats/internal/testutil/faultproxy"
)

// TestHostileSoak keeps one collector process busy with what anonymous
// clients on the internet send (forged keys, sessions and links, ids that
// never repeat, absurd queries, readers that stall, proxy headers and bodies
// that make no sense) while unique events are sent beside and ClickHouse
// goes away and comes back. The process is never restarted. It must not
// die, its memory must level off, it must never answer a 5xx other than
// 503, every error must come in its route's envelope, and every
// acknowledged event must be stored once.
func TestHostileSoak(t *testing.T) {
	soakFor, outages, outage := 24*time.Second, 2, 3*time.Second
	if long() {
		soakFor, outages, outage = 5*time.Minute, 10, 5*time.Second
	}
	const clients, loadConns = 16, 2
	// The first clients send every request from one address each, to
	// meet the per-address limits; the others from a new address each time.
	fixed := []string{"198.51.100.7", "2001:db8:feed:1::7"}
	secret := randomString(rand.New(rand.NewPCG(rand.Uint64(), 1)), hexDigits, 48)
	// Caches that expire at once keep the paths behind them hot. The rig
	// turns the rate limit off; the soak wants one low enough for the
	// clients on one address to reach it, high enough for the unique load's
	// thousand addresses not to.
	r := newRig(t, "--key-cache-ttl", "50ms", "--stats-cache-ttl", "20ms", "--stats-stale-for", "200ms",
		"--dashboard-secret", secret, "--rate-limit", "5", "--rate-burst", "50")
	pid := r.cmd.Process.Pid
	link := r.command("links", "create", "--group", "program-1", "--name", "soak", "--dashboard-secret", secret, "--clickhouse", r.dsn)
	h := &hostile{
		base:   "http://" + r.addr,
		reader: r.command("keys", "create", "--name", "soak", "--scope", "stats:read", "--clickhouse", r.dsn),
		writer: r.command("keys", "create", "--name", "soak-writer", "--scope", "events:write", "--clickhouse", r.dsn),
		link:   link[strings.LastIndexByte(link, '/')+1:],
		tally:  &tally{status: map[int]int{}, kinds: map[string]int{}, transport: map[string]int{}, slowest: map[string]slowAnswer{}, bad: map[finding]*examples{}},
	}
	// Idle connections are closed before the server's read timeout would
	// answer them unasked.
	h.transport = &http.Transport{MaxIdleConnsPerHost: clients, IdleConnTimeout: 5 * time.Second, DisableCompression: true}
	h.client = &http.Client{Transport: h.transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	restingGoroutines := goroutines(h.base)

	runID := "soak"
	stopLoad := r.loadInBackground(loadConns, runID)
	ctx, cancel := context.WithTimeout(context.Background(), soakFor)
	defer cancel()
	var wg sync.WaitGroup
	mem := &rssSamples{}
	wg.Go(func() { mem.sample(ctx, pid, h.base) })
	wg.Go(func() {
		gap := (soakFor - time.Duration(outages)*outage) / time.Duration(outages+1)
		for range outages {
			select {
			case <-ctx.Done():
				return
			case <-time.After(gap):
			}
			r.proxy.SetMode(faultproxy.Refuse)
			time.Sleep(outage)
			r.proxy.SetMode(faultproxy.Pass)
			h.outages.Add(1)
		}
	})
	for i := range clients {
		c := &hostileClient{hostile: h, rng: rand.New(rand.NewPCG(rand.Uint64(), uint64(i)))}
		if i < len(fixed) {
			c.fixed = fixed[i]
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				attacks[c.rng.IntN(len(attacks))].run(c, ctx)
			}
		})
	}
	wg.Wait()
	res := stopLoad()
	h.transport.CloseIdleConnections()

	if !alive(pid) {
		t.Fatalf("the process died during the soak")
	}
	if resp, err := http.Get(h.base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz after the soak: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Every request has ended: what runs now is what the process keeps.
	afterGoroutines := restingGoroutines
	settled := waitFor(func() bool {
		afterGoroutines = goroutines(h.base)
		return afterGoroutines <= 2*restingGoroutines+50
	}, 30*time.Second)
	if !settled {
		t.Errorf("goroutines did not come back to rest: %d before the soak, %d after", restingGoroutines, afterGoroutines)
	}

	for code, n := range res.Status {
		if code >= 500 && code != http.StatusServiceUnavailable {
			t.Errorf("the unique load got %d answers %d", n, code)
		}
	}
	r.check(runID, res.Acked)

	first, last := mem.thirds()
	if first == 0 {
		t.Log("RSS not measured: no /proc here")
	} else if last > 2*first+64<<20 {
		t.Errorf("RSS grew: at most %s in the first third of the soak, %s in the last", mib(first), mib(last))
	}

	// With ClickHouse up and the soak over, a dashboard range the engine
	// refuses is the reader's mistake: it must not pass for ClickHouse
	// failing.
	calm := &hostileClient{hostile: h, rng: rand.New(rand.NewPCG(rand.Uint64(), 99))}
	for _, path := range []string{"/dashboard/s/" + h.link + "/sections/trend?from=1900-01-01&to=2199-12-31", "/dashboard/s/" + h.link + "/sections/headline?from=2000-01-01&to=2100-12-31"} {
		req := calm.request("GET", path, "")
		req.Header.Set("X-Forwarded-For", calm.address())
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Errorf("GET %s with ClickHouse up: %d %s", path, resp.StatusCode, shortQuote(string(body), 200))
		}
	}

	tl := h.tally
	for _, b := range tl.badOrder {
		t.Errorf("%d answers to %s: %s, e.g. %s", tl.bad[b].n, b.kind, b.why, tl.bad[b].example)
	}
	for _, s := range tl.transportSample {
		t.Errorf("no answer: %s", s)
	}
	if tl.status[http.StatusTooManyRequests] == 0 {
		t.Error("no request was refused with 429: the per-address limits were not exercised")
	}
	if h.outages.Load() < 2 {
		t.Errorf("ClickHouse went away only %d times", h.outages.Load())
	}
	log, _ := os.ReadFile(r.log.Name())
	// "request failed" is written for every 500 answered, also to a client
	// that is gone and never sees it.
	for _, bad := range []string{"panic", "fatal error", "request failed"} {
		if n := strings.Count(string(log), bad); n > 0 {
			t.Errorf("the log has %q %d times", bad, n)
		}
	}
	// The log must grow with time, not with what anonymous clients send:
	// on average no message more than once a second.
	for msg, n := range logMessages(log) {
		if msg != "request failed" && n > 10+int(soakFor/time.Second) {
			t.Errorf("the log has %q %d times in %s: not rate-limited", msg, n, soakFor)
		}
	}

	figures(t, "did: %s of hostile traffic from %d clients (%d of them on one address each), %d ClickHouse outages of %s, no restart; "+
		"%d requests (%s), %d transport errors, %d torn connections, %d exports read slowly or dropped; by attack: %s",
		soakFor, clients, len(fixed), h.outages.Load(), outage,
		tl.requests, statusCounts(tl.status), tl.transportErrors(), h.torn.Load(), h.slowReads.Load(), kindCounts(tl.kinds))
	figures(t, "found: the process up; RSS max %s in the first third, %s in the last (%d samples); goroutines %d at rest, %d peak, %d after; "+
		"%d answers said a query took too long; slowest answers: %s; %d log lines (%d bytes); unique load beside: %s, %d events acked",
		mib(first), mib(last), len(mem.rss), restingGoroutines, mem.peakGoroutines, afterGoroutines,
		tl.tooLong.Load(), tl.slowestLine(), strings.Count(string(log), "\n"), len(log), statusLine(res), len(res.Acked))
}

// command runs the credstats binary with args and returns what it printed
// on stdout, trimmed.
func (r *rig) command(args ...string) string {
	r.t.Helper()
	out, err := exec.Command(binary, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		r.t.Fatalf("credstats %s: %v %s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// hostile is what every hostile client shares: the server, the real
// credentials and the tally.
type hostile struct {
	base      string
	reader    string // a stats:read key
	writer    string // an events:write key
	link      string // a real shared link's token
	client    *http.Client
	transport *http.Transport
	tally     *tally
	outages   atomic.Int64
	torn      atomic.Int64
	slowReads atomic.Int64
}

type hostileClient struct {
	*hostile
	rng   *rand.Rand
	fixed string // the one client address of every request, or "" for a new one each time
}

// route is what a route promises in its error answers.
type route int

const (
	jsonAPI   route = iota // {"error": {"code": ..., "message": ...}}
	awardsAPI              // the badges.ninja envelope, {"error": "..."}
	dashboard              // a page (HTML) or a piece of one (HTML or text)
)

type attack struct {
	name string
	run  func(c *hostileClient, ctx context.Context)
}

var attacks = []attack{
	{"shared links", (*hostileClient).sharedLinks},
	{"public counters", (*hostileClient).publicCounters},
	{"forged keys", (*hostileClient).forgedKeys},
	{"forged sessions", (*hostileClient).forgedSessions},
	{"cross-site forms", (*hostileClient).crossSiteForms},
	{"absurd queries", (*hostileClient).absurdQueries},
	{"slow exports", (*hostileClient).slowExports},
	{"proxy headers", (*hostileClient).proxyHeaders},
	{"random bodies", (*hostileClient).randomBodies},
	{"compatible events", (*hostileClient).compatibleEvents},
	{"torn requests", (*hostileClient).tornRequests},
}

func (c *hostileClient) sharedLinks(ctx context.Context) {
	var token string
	switch c.rng.IntN(6) {
	case 0:
		token = "00000000000000aa.x"
	case 1:
		token = "00000000000000bb.x"
	case 2:
		token = "00000000000000aa." + c.b64(24) // looked up once, then known to be nobody's
	case 3:
		token = c.hex(16) + "." + c.b64(24)
	case 4:
		token = c.link[:17] + c.b64(24) // a real link's id, a forged signature
	default:
		token = c.link
	}
	suffix := pick(c.rng, "", "/sections/trend", "/export.csv", "/sections/credentials", "/sections/nope",
		"/credentials/"+c.credential(), "/credentials/"+c.credential()+"/sections/trend", "/credentials/soak-1/export.csv",
		"?range=all", "?from=1900-01-01&to=2199-12-31", "/sections/trend?from=1900-01-01&to=2199-12-31",
		"/export.csv?section=credentials&range=all", "?group=%00%ff&credential="+strings.Repeat("x", 300))
	c.send(ctx, "shared links", dashboard, c.request("GET", "/dashboard/s/"+token+suffix, ""), nil)
}

func (c *hostileClient) publicCounters(ctx context.Context) {
	id := c.credential()
	switch c.rng.IntN(4) {
	case 0:
		c.send(ctx, "public counters", jsonAPI, c.request("GET", "/api/v1/credentials/"+id+"/stats", ""), nil)
	case 1:
		c.send(ctx, "public counters", awardsAPI, c.request("GET", "/awards/"+id+"/stats", ""), nil)
	case 2:
		c.send(ctx, "public counters", jsonAPI, c.request("GET", "/badge/"+id+".svg", ""), nil)
	default:
		label := pick(c.rng, "", strings.Repeat("é", 65), "<script>", c.b64(40))
		c.send(ctx, "public counters", jsonAPI, c.request("GET", "/badge/"+id+".svg?label="+url.QueryEscape(label), ""), nil)
	}
}

const validQuery = `{"metrics":["views"],"dimensions":["credential"],"date_range":"all"}`

func (c *hostileClient) forgedKeys(ctx context.Context) {
	auth := pick(c.rng,
		"Bearer csk_"+c.hex(16)+"_"+c.hex(48),
		"bearer csk_"+c.hex(16)+"_"+c.hex(48),
		"BEARER "+c.reader[:21]+c.hex(48),    // a real key's id, a forged secret
		"Bearer "+c.reader[:len(c.reader)-1], // a real key, cut short
		"Bearer csk_zz_zz", "Bearer ", "bearer", "Basic dXNlcjpwYXNz", "Bearer "+strings.Repeat("A", 3000),
		"Bearer csk_"+c.hex(16)+"_"+c.hex(48)+" extra", "")
	var req *http.Request
	if c.rng.IntN(2) == 0 {
		req = c.request("POST", "/api/v1/query", validQuery)
	} else {
		req = c.request("GET", "/api/v1/export?query="+url.QueryEscape(validQuery), "")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	c.send(ctx, "forged keys", jsonAPI, req, nil)
}

func (c *hostileClient) forgedSessions(ctx context.Context) {
	future := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	cookie := pick(c.rng,
		c.hex(16)+"."+future+"."+c.b64(43),
		c.reader[4:20]+"."+future+"."+c.b64(43), // a real key's id
		c.hex(16)+".99999999999999999999."+c.b64(43),
		c.hex(16)+".-1."+c.b64(43),
		"garbage", "a.b.c.d", "..", ".1.x", strings.Repeat("A", 3000)+".1.x", c.b64(200))
	path := pick(c.rng, "/dashboard", "/dashboard?range=all", "/dashboard/sections/trend", "/dashboard/sections/nope",
		"/dashboard/export.csv", "/dashboard/export.csv?section=groups", "/dashboard/credentials/"+c.credential(),
		"/dashboard/credentials/"+c.credential()+"/sections/trend", "/dashboard/login?next=//evil.example/",
		"/dashboard/login?next="+url.QueryEscape("/dashboard\r\nLocation: https://evil.example/"))
	req := c.request("GET", path, "")
	req.Header.Set("Cookie", "credstats_session="+cookie)
	if c.rng.IntN(3) == 0 {
		req.Header.Set("Sec-Fetch-Site", "cross-site")
	}
	c.send(ctx, "forged sessions", dashboard, req, nil)
}

func (c *hostileClient) crossSiteForms(ctx context.Context) {
	path := pick(c.rng, "/dashboard/login", "/dashboard/logout")
	form := url.Values{"key": {pick(c.rng, "csk_"+c.hex(16)+"_"+c.hex(48), c.reader, "", c.b64(100))}, "next": {pick(c.rng, "/dashboard", "//evil.example", "https://evil.example/")}}
	req := c.request("POST", path, form.Encode())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	switch c.rng.IntN(4) {
	case 0:
		req.Header.Set("Origin", "https://evil.example")
	case 1:
		req.Header.Set("Origin", "null")
	case 2:
		req.Header.Set("Origin", "http://"+strings.TrimPrefix(c.base, "http://")+".evil.example")
	default: // same origin, as a form on the page sends it
		req.Header.Set("Origin", c.base)
	}
	c.send(ctx, "cross-site forms", dashboard, req, nil)
}

// absurdQueries are what a real stats:read key may ask: pages far past the
// end, limits past any table, time series over everything.
var absurdQueries = []string{
	`{"metrics":["views"],"dimensions":["credential"],"offset":4900000000}`,
	`{"metrics":["views"],"dimensions":["credential"],"offset":300000000}`,
	`{"metrics":["views"],"dimensions":["credential"],"offset":-1}`,
	`{"metrics":["views"],"dimensions":["credential"],"limit":1e12}`,
	`{"metrics":["views"],"dimensions":["credential"],"limit":1000000000000}`,
	`{"metrics":["views"],"dimensions":["credential"],"date_range":"all","offset":999999,"limit":10000}`,
	`{"metrics":["views","unique_viewers"],"dimensions":["time:hour"],"date_range":"all"}`,
	`{"metrics":["views"],"dimensions":["time:hour"],"date_range":"all","offset":300000000}`,
	`{"metrics":["views"],"dimensions":["time:hour"],"date_range":"all","offset":4900000000,"limit":10000}`,
	`{"metrics":["views"],"dimensions":["time:hour","credential"],"date_range":"all","limit":10000}`,
	`{"metrics":["share_rate"],"dimensions":["time:hour","group"],"date_range":"all","order_by":[["share_rate","desc"]],"offset":300000000}`,
	`{"metrics":["views"],"dimensions":["time:hour"],"date_range":["1900-01-01","2199-12-31"]}`,
	`{"metrics":["views"],"dimensions":["time:day"],"date_range":["1900-01-01","2199-12-31"],"offset":90000}`,
	`{"metrics":["views"],"filters":[["contains","credential",["` + strings.Repeat("%", 1999) + `"]]],"date_range":"all"}`,
}

func (c *hostileClient) absurdQueries(ctx context.Context) {
	req := c.request("POST", "/api/v1/query", absurdQueries[c.rng.IntN(len(absurdQueries))])
	req.Header.Set("Authorization", pick(c.rng, "Bearer ", "bearer ")+c.reader)
	c.send(ctx, "absurd queries", jsonAPI, req, nil)
}

var exportQueries = []string{
	validQuery,
	`{"metrics":["views"],"dimensions":["time:hour"],"date_range":"all","offset":300000000}`,
	`{"metrics":["views"],"dimensions":["time:hour","credential"],"date_range":"all"}`,
	`{"metrics":["events"],"dimensions":["credential","network"],"date_range":"all","offset":4900000000}`,
	`{"metrics":["views"],"dimensions":["time:day"],"date_range":["1900-01-01","2199-12-31"]}`,
}

// slowExports read exports as a client on a bad line does, or stop reading
// and go away; the server must let go of each.
func (c *hostileClient) slowExports(ctx context.Context) {
	var req *http.Request
	rt := jsonAPI
	if c.rng.IntN(3) == 0 {
		req = c.request("GET", "/dashboard/s/"+c.link+"/export.csv?range=all&section="+pick(c.rng, "trend", "credentials", "countries"), "")
		rt = dashboard
	} else {
		q := exportQueries[c.rng.IntN(len(exportQueries))]
		req = c.request("GET", "/api/v1/export?format="+pick(c.rng, "csv", "ndjson")+"&query="+url.QueryEscape(q), "")
		req.Header.Set("Authorization", "Bearer "+c.reader)
	}
	read := func(body io.Reader) {
		c.slowReads.Add(1)
		buf := make([]byte, 256)
		switch c.rng.IntN(3) {
		case 0: // a trickle, then gone
			for range 10 + c.rng.IntN(20) {
				if _, err := body.Read(buf); err != nil || ctx.Err() != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		case 1: // the headers, then silence, then gone
			time.Sleep(time.Duration(300+c.rng.IntN(1500)) * time.Millisecond)
		default:
			// Read whole; an export cut by an outage ends in an error by
			// design, so the error is no finding.
			io.Copy(io.Discard, body)
		}
	}
	c.send(ctx, "slow exports", rt, req, read)
}

func (c *hostileClient) proxyHeaders(ctx context.Context) {
	var req *http.Request
	rt := jsonAPI
	switch c.rng.IntN(3) {
	case 0:
		req = c.request("GET", "/api/v1/credentials/"+c.credential()+"/stats", "")
	case 1:
		req = c.request("POST", "/api/event", `{"credential":"hostile-xff","type":"view"}`)
	default:
		req = c.request("GET", "/awards/hostile-xff/stats", "")
		rt = awardsAPI
	}
	hops := make([]string, 40)
	for i := range hops {
		hops[i] = c.address()
	}
	switch c.rng.IntN(13) {
	case 0:
		req.Header.Set("X-Forwarded-For", strings.Join(hops, ", "))
	case 1:
		for _, h := range hops[:5] {
			req.Header.Add("X-Forwarded-For", h)
		}
	case 2:
		req.Header.Set("X-Forwarded-For", c.address()+":"+strconv.Itoa(c.rng.IntN(65536)))
	case 3:
		req.Header.Set("X-Forwarded-For", "[2001:db8:"+c.hex(4)+"::1]:443")
	case 4:
		req.Header.Set("X-Forwarded-For", "[2001:db8::"+c.hex(4)+"]")
	case 5:
		req.Header.Set("X-Forwarded-For", pick(c.rng, "garbage", "unknown", ",,,", " , 1.2.3.4 ,", "1.2.3.4.5", "fe80::1%eth0",
			"::ffff:10.1.2.3", "127.0.0.1, 127.0.0.1", "[::1]", "1.2.3.4:99999", "[1.2.3.4]:80", "_hidden, "+c.address()))
	case 6:
		req.Header.Set("X-Forwarded-For", strings.Repeat(c.address()+", ", 10<<10/16))
	case 7:
		req.Header.Set("X-Forwarded-For", strings.Repeat("9", 10<<10))
	case 8:
		req.Header.Set("X-Forwarded-For", c.b64(2000)+", "+c.address())
	case 9:
		req.Header["X-Forwarded-For"] = []string{c.address(), "garbage", c.address()}
	case 10:
		req.Header.Set("Forwarded", "for="+c.address()+";proto=https")
		req.Header.Set("X-Real-Ip", c.address())
		req.Header["X-Forwarded-For"] = nil // none: the peer is the client
	case 11:
		req.Header.Set("X-Forwarded-For", "")
	default:
		req.Header.Set("X-Forwarded-For", c.address()+", 127.0.0.1, 127.0.0.1")
	}
	c.send(ctx, "proxy headers", rt, req, nil)
}

func (c *hostileClient) randomBodies(ctx context.Context) {
	var body []byte
	if c.rng.IntN(2) == 0 {
		body = make([]byte, c.rng.IntN(6000))
		for i := range body {
			body[i] = byte(c.rng.Uint32())
		}
	} else {
		// A real event with a few bytes changed, under an id no unique
		// event has.
		body = []byte(`{"credential":"hostile-` + c.hex(8) + `","type":"share","network":"linkedin","actor":"guest","group":"g","url":"https://x.example/c","referrer":"https://www.linkedin.com/"}`)
		for range 1 + c.rng.IntN(4) {
			body[c.rng.IntN(len(body))] = byte(c.rng.Uint32())
		}
	}
	ct := pick(c.rng, "", "text/plain", "application/json", "application/octet-stream", "multipart/form-data; boundary=x", "application/json; charset=utf-16")
	var req *http.Request
	rt := jsonAPI
	switch c.rng.IntN(4) {
	case 0, 1:
		req = c.request("POST", "/api/event", string(body))
	case 2:
		req = c.request("POST", "/v1/credential-interactions", string(body))
		if c.rng.IntN(4) > 0 {
			req.Header.Set("Authorization", "Bearer "+c.writer)
		}
		req.Header.Set("Certifier-Version", pick(c.rng, "2022-10-26", "", "garbage"))
	default:
		req = c.request("POST", "/awards/hostile-"+c.hex(6)+"/event", string(body))
		rt = awardsAPI
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	c.send(ctx, "random bodies", rt, req, nil)
}

// compatibleEvents sends valid events to the compatible APIs under
// changing credential ids: each asks the registry's group lookup, whose
// cache must stay bounded and whose misses must not fail the event.
func (c *hostileClient) compatibleEvents(ctx context.Context) {
	// Not the unique load's ids, whose events are counted exactly.
	id := strings.Replace(c.credential(), "soak-", "compat-", 1)
	if c.rng.IntN(2) == 0 {
		body := `{"parameters": {"kind": "` + pick(c.rng, "view", "share", "download", "linkedin_add") + `", "network": "linkedin"}}`
		c.send(ctx, "compatible events", awardsAPI, c.request("POST", "/awards/"+id+"/event", body), nil)
		return
	}
	unescaped, err := url.PathUnescape(id)
	if err != nil {
		unescaped = id
	}
	body, _ := json.Marshal(map[string]string{"credentialId": unescaped, "eventType": pick(c.rng, compat.CertifierTypes...),
		"triggeredBy": pick(c.rng, "recipient", "guest"), "triggeredAt": time.Now().UTC().Format(time.RFC3339)})
	req := c.request("POST", "/v1/credential-interactions", string(body))
	req.Header.Set("Authorization", "Bearer "+c.writer)
	req.Header.Set("Certifier-Version", "2022-10-26")
	req.Header.Set("Content-Type", "application/json")
	c.send(ctx, "compatible events", jsonAPI, req, nil)
}

// tornRequests speak HTTP badly on a raw connection: a body that never
// comes, headers cut off, bytes of another protocol, a reset.
func (c *hostileClient) tornRequests(ctx context.Context) {
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(c.base, "http://"), 5*time.Second)
	if err != nil {
		c.tally.transportError("torn requests", "dial", err)
		return
	}
	defer conn.Close()
	c.torn.Add(1)
	xff := c.address()
	switch c.rng.IntN(5) {
	case 0: // promised body cut short, then a reset
		fmt.Fprintf(conn, "POST /api/event HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\nContent-Length: 3000\r\n\r\n{\"credential\":\"hostile-torn\"", xff)
		time.Sleep(20 * time.Millisecond)
		conn.(*net.TCPConn).SetLinger(0)
		return
	case 1: // headers cut off
		fmt.Fprintf(conn, "GET /dashboard/s/%s HTTP/1.1\r\nHost: x\r\nX-Forwar", c.link)
		time.Sleep(100 * time.Millisecond)
		return
	case 2: // a TLS client hello to a plain HTTP port
		conn.Write([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + c.b64(64)))
	case 3: // a request line with no sense
		fmt.Fprintf(conn, "%s /%s HTTP/9.9\r\nHost: x\r\n\r\n", pick(c.rng, "BREW", "GET", "\x00\x01"), c.b64(50))
	default: // a body larger than the server takes
		fmt.Fprintf(conn, "POST /api/event HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: %s\r\nContent-Length: %d\r\n\r\n", xff, 1<<20)
		conn.Write(make([]byte, 128<<10))
	}
	// Whatever answer comes must not be a 500.
	conn.SetReadDeadline(time.Now().Add(time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if f := strings.Fields(line); len(f) >= 2 {
		if code, err := strconv.Atoi(f[1]); err == nil {
			c.tally.add("torn requests", code, judgeStatus(code), "raw "+strconv.Quote(line))
		}
	}
}

// request builds a request to path on the server.
func (c *hostileClient) request(method, path, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		panic(fmt.Sprintf("%s %s: %v", method, path, err))
	}
	req.Header.Set("User-Agent", pick(c.rng, "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "curl/8.5.0", "", "python-requests/2.31"))
	return req
}

// send sends req and judges the answer against what its route promises.
// read, when set, reads a 200's body its own way.
func (c *hostileClient) send(ctx context.Context, kind string, rt route, req *http.Request, read func(io.Reader)) {
	if _, set := req.Header["X-Forwarded-For"]; !set {
		req.Header.Set("X-Forwarded-For", c.address())
	}
	// The server refuses some requests while reading them, before any
	// route sees them: headers past its read buffer, a multipart body it
	// cannot parse. Those answer in the JSON envelope whatever the path,
	// and the oversized ones may be cut off while still being sent.
	oversized := headerBytes(req) > readBuffer
	if oversized || strings.HasPrefix(req.Header.Get("Content-Type"), "multipart/form-data") {
		rt = jsonAPI
	}
	soak := ctx
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	defer func() { c.tally.took(kind, time.Since(start), req) }()
	resp, err := c.client.Do(req.WithContext(ctx))
	if err != nil {
		if soak.Err() == nil && !oversized {
			c.tally.transportError(kind, describe(req), err)
		}
		return
	}
	defer resp.Body.Close()
	if read != nil && resp.StatusCode == http.StatusOK {
		read(resp.Body)
		c.tally.add(kind, resp.StatusCode, "", "")
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil && soak.Err() != nil {
		return // the soak ended under it
	}
	if resp.StatusCode == http.StatusServiceUnavailable && (strings.Contains(string(body), "longer than the time limit") || strings.Contains(string(body), "took too long")) {
		c.tally.tooLong.Add(1)
	}
	why := judge(rt, resp, body)
	if err != nil && why == "" && strings.Contains(req.URL.Path, "export") {
		// An export that fails part-way, ClickHouse gone under it, is cut
		// on purpose so that the client sees it failed.
		c.tally.add(kind, resp.StatusCode, "", "")
		return
	}
	if err != nil && why == "" {
		why = "the answer was cut: " + err.Error()
	}
	c.tally.add(kind, resp.StatusCode, why, describe(req)+" -> "+strconv.Itoa(resp.StatusCode)+" "+resp.Header.Get("Content-Type")+" "+shortQuote(string(body), 300))
}

// readBuffer is the server's (Fiber's default ReadBufferSize): the request
// line and headers must fit in it.
const readBuffer = 4096

func headerBytes(req *http.Request) int {
	n := len(req.Method) + len(req.URL.RequestURI()) + 11
	for k, vs := range req.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

func judgeStatus(code int) string {
	if code >= 500 && code != http.StatusServiceUnavailable {
		return "status " + strconv.Itoa(code) + ": the only 5xx allowed is 503"
	}
	return ""
}

// judge says what is wrong with an answer, or "".
func judge(rt route, resp *http.Response, body []byte) string {
	if why := judgeStatus(resp.StatusCode); why != "" || resp.StatusCode < 400 {
		return why
	}
	ct := resp.Header.Get("Content-Type")
	switch rt {
	case jsonAPI:
		var e struct {
			Error struct{ Code, Message string }
		}
		if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
			return `not the JSON error envelope {"error":{"code":...,"message":...}}`
		}
	case awardsAPI:
		var e struct{ Error string }
		if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &e) != nil || e.Error == "" {
			return `not the badges.ninja error envelope {"error":"..."}`
		}
	case dashboard:
		if !strings.HasPrefix(ct, "text/html") && !strings.HasPrefix(ct, "text/plain") {
			return "a dashboard error that is not a page or text"
		}
	}
	return ""
}

func describe(req *http.Request) string {
	var b strings.Builder
	b.WriteString(req.Method + " " + shortQuote(req.URL.RequestURI(), 200))
	for _, h := range []string{"X-Forwarded-For", "Authorization", "Cookie", "Origin", "Content-Type", "Certifier-Version"} {
		for _, v := range req.Header.Values(h) {
			b.WriteString(" " + h + ": " + shortQuote(v, 80))
		}
	}
	if req.ContentLength > 0 {
		fmt.Fprintf(&b, " (body %d bytes)", req.ContentLength)
	}
	return b.String()
}

func shortQuote(s string, n int) string {
	if len(s) > n {
		return strconv.Quote(s[:n]) + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

// address is the client address a request claims: the client's own, or
// one never seen before, so that the per-address limits do not stop the
// soak from reaching the paths behind them.
func (c *hostileClient) address() string {
	if c.fixed != "" {
		return c.fixed
	}
	if c.rng.IntN(4) == 0 {
		return fmt.Sprintf("2001:db8:%x:%x::%x", c.rng.IntN(1<<16), c.rng.IntN(1<<16), 1+c.rng.IntN(1<<16))
	}
	n := c.rng.Uint32() & (1<<22 - 1) // 100.64.0.0/10
	return fmt.Sprintf("100.%d.%d.%d", 64+n>>16, n>>8&255, n&255)
}

// credential is an id for the public counters: one of the unique load's,
// one never asked before, one everybody asks, or no valid id at all.
func (c *hostileClient) credential() string {
	switch c.rng.IntN(8) {
	case 0, 1:
		return "soak-" + strconv.Itoa(1+c.rng.IntN(20000))
	case 2, 3, 4:
		return "hostile-" + c.hex(12)
	case 5:
		return "popular"
	case 6:
		return strings.Repeat("x", 129)
	default:
		return pick(c.rng, "bad%20id", "%E2%98%83", "a%00b", "%2F", "-", "a.b.c:d_e", c.b64(128))
	}
}

const (
	hexDigits = "0123456789abcdef"
	b64Digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
)

func (c *hostileClient) hex(n int) string { return randomString(c.rng, hexDigits, n) }
func (c *hostileClient) b64(n int) string { return randomString(c.rng, b64Digits, n) }

func randomString(rng *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func pick(rng *rand.Rand, options ...string) string { return options[rng.IntN(len(options))] }

// tally counts what the hostile clients saw and keeps the first examples
// of what went wrong.
type tally struct {
	mu              sync.Mutex
	requests        int
	status          map[int]int
	kinds           map[string]int
	transport       map[string]int // by attack
	transportSample []string
	bad             map[finding]*examples
	badOrder        []finding
	slowest         map[string]slowAnswer // by attack
	tooLong         atomic.Int64          // 503s that name the query's time limit
}

type slowAnswer struct {
	took time.Duration
	what string
}

// took keeps the slowest request of each attack, for the figures.
func (t *tally) took(kind string, d time.Duration, req *http.Request) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d > t.slowest[kind].took {
		t.slowest[kind] = slowAnswer{d, describe(req)}
	}
}

// slowestLine names the three slowest requests.
func (t *tally) slowestLine() string {
	var all []slowAnswer
	for _, s := range t.slowest {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].took > all[j].took })
	var parts []string
	for _, s := range all[:min(3, len(all))] {
		parts = append(parts, fmt.Sprintf("%s %s", s.took.Round(time.Millisecond), shortQuote(s.what, 160)))
	}
	return strings.Join(parts, "; ")
}

func (t *tally) add(kind string, status int, why, what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	t.status[status]++
	t.kinds[kind]++
	if why == "" {
		return
	}
	f := finding{kind, why}
	if t.bad[f] == nil {
		t.bad[f] = &examples{example: what}
		t.badOrder = append(t.badOrder, f)
	}
	t.bad[f].n++
}

// finding is one kind of wrong answer to one attack.
type finding struct{ kind, why string }

type examples struct {
	n       int
	example string
}

func (t *tally) transportError(kind, what string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.transport[kind]++
	if len(t.transportSample) < 10 {
		t.transportSample = append(t.transportSample, kind+": "+what+": "+err.Error())
	}
}

func (t *tally) transportErrors() int {
	n := 0
	for _, v := range t.transport {
		n += v
	}
	return n
}

func statusCounts(m map[int]int) string {
	var codes []int
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d: %d", c, m[c]))
	}
	return strings.Join(parts, ", ")
}

func kindCounts(m map[string]int) string {
	var parts []string
	for _, a := range attacks {
		parts = append(parts, fmt.Sprintf("%s %d", a.name, m[a.name]))
	}
	return strings.Join(parts, ", ")
}

// rssSamples is the process's resident memory, once a second, and the
// most goroutines /metrics showed meanwhile.
type rssSamples struct {
	rss            []int64
	peakGoroutines int
}

func (m *rssSamples) sample(ctx context.Context, pid int, base string) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if v, ok := rss(pid); ok {
			m.rss = append(m.rss, v)
		}
		m.peakGoroutines = max(m.peakGoroutines, goroutines(base))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// thirds returns the largest sample of the first and of the last third.
func (m *rssSamples) thirds() (first, last int64) {
	n := len(m.rss)
	if n < 3 {
		return 0, 0
	}
	for i, v := range m.rss {
		switch {
		case i < n/3:
			first = max(first, v)
		case i >= n-n/3:
			last = max(last, v)
		}
	}
	return first, last
}

func rss(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// alive reports whether the process runs (and is not a zombie no one has
// waited for).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: the signal is all there is
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(after, "Z") && !strings.HasPrefix(after, "X")
}

// goroutines reads go_goroutines from /metrics; 0 when it cannot.
func goroutines(base string) int {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return 0
}

// logMessages counts the collector's log lines by message.
func logMessages(log []byte) map[string]int {
	out := map[string]int{}
	for line := range strings.Lines(string(log)) {
		_, rest, ok := strings.Cut(line, " msg=")
		if !ok {
			continue
		}
		msg := rest
		if strings.HasPrefix(rest, `"`) {
			if q, err := strconv.QuotedPrefix(rest); err == nil {
				msg, _ = strconv.Unquote(q)
			}
		} else {
			msg, _, _ = strings.Cut(rest, " ")
		}
		out[msg]++
	}
	return out
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
