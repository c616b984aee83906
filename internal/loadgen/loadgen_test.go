package loadgen_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/credstats/credstats/internal/loadgen"
)

// seen records what a run sent.
type seen struct {
	mu       sync.Mutex
	requests []string // body, client address and agent
	bots     int
}

func serve(t *testing.T) (*seen, string) {
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ua := r.Header.Get("User-Agent")
		s.mu.Lock()
		s.requests = append(s.requests, string(b)+"|"+r.Header.Get("X-Forwarded-For")+"|"+ua)
		if strings.Contains(strings.ToLower(ua), "bot") {
			s.bots++
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL + "/api/event"
}

func run(t *testing.T, o loadgen.Options) (*seen, loadgen.Result) {
	t.Helper()
	s, url := serve(t)
	o.URL, o.Connections, o.Requests = url, 1, 2000
	res, err := loadgen.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s, res
}

func repeats(s *seen) int {
	count := map[string]int{}
	n := 0
	for _, r := range s.requests {
		if count[r]++; count[r] > 1 {
			n++
		}
	}
	return n
}

func TestZeroMeansZero(t *testing.T) {
	s, _ := run(t, loadgen.Options{Duplicates: 0, Bots: 0})
	if s.bots != 0 {
		t.Errorf("--bots 0 sent %d crawler requests", s.bots)
	}
	// Zipf-distributed credentials from many addresses repeat by chance
	// now and then; asked for none, almost none may.
	if n := repeats(s); n > len(s.requests)/100 {
		t.Errorf("--duplicates 0 repeated %d of %d requests", n, len(s.requests))
	}
	s, _ = run(t, loadgen.Options{Duplicates: 0.5, Bots: 0.5})
	if n := repeats(s); n < len(s.requests)/4 {
		t.Errorf("--duplicates 0.5 repeated only %d of %d requests", n, len(s.requests))
	}
	if s.bots < len(s.requests)/4 {
		t.Errorf("--bots 0.5 sent only %d crawler requests of %d", s.bots, len(s.requests))
	}
}

func TestSeed(t *testing.T) {
	a, ra := run(t, loadgen.Options{Seed: 42})
	b, _ := run(t, loadgen.Options{Seed: 42})
	if strings.Join(a.requests, "\n") != strings.Join(b.requests, "\n") || ra.Seed != 42 {
		t.Error("the same seed sent other events")
	}
	c, rc := run(t, loadgen.Options{})
	d, rd := run(t, loadgen.Options{})
	if rc.Seed == 0 || rc.Seed == rd.Seed || strings.Join(c.requests, "\n") == strings.Join(d.requests, "\n") {
		t.Errorf("runs without a seed repeated each other (seeds %d, %d)", rc.Seed, rd.Seed)
	}
}
