package aggregator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"

	"github.com/credstats/credstats/aggregator/internal/rolluptest"
	"github.com/credstats/credstats/cmd/credstats/server"
	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

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
			Now:           func() time.Time { return rolluptest.Now },
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
	token, k, err := auth.NewKeys(e.conn, 0).Create(context.Background(), "test", scopes)
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

func newDatabase(t *testing.T) (string, driver.Conn) { return chtest.New(t) }

// addViews stores n views of a credential by new visitors.
func addViews(t testing.TB, conn driver.Conn, credential string, n int) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), rolluptest.InsertEvents)
	must(t, err)
	for i := range n {
		must(t, b.Append(uuid.New(), rolluptest.Now.Add(-time.Minute), credential, "", "view", "", "guest", "beacon", uint64(1_000_000+i),
			"", "", "", "", "", "Chrome", "Windows", "desktop", ""))
	}
	must(t, b.Send())
	rolluptest.Wait(t, conn)
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
