package main

import (
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// overview measures the dashboard's overview page over the seeded events
// of one size as a browser loads it: the page, which waits for its sections
// up to its budget, then every section it left for its script, fetched at
// once. The figure is the time until the last section is ready; the
// baseline is the same page for 30 days.
func (b *bench) overview(dsn, label string) error {
	const addr = "127.0.0.1:18907"
	dir := filepath.Join(b.root, ".local", "bench", "overview")
	if _, err := b.start(b.bin, "aggregator", "--listen", addr, "--clickhouse", dsn, "--data-dir", dir,
		"--rate-limit", "-1", "--log-level", "error"); err != nil {
		return err
	}
	defer b.stopAll()
	if err := waitReady(addr, 60*time.Second); err != nil {
		return err
	}
	out, err := exec.Command(b.bin, "keys", "create", "--name", "bench-overview", "--scope", "dashboard", "--clickhouse", dsn).Output()
	if err != nil {
		return fmt.Errorf("cannot create a dashboard key: %w", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cookie, err := signIn(client, addr, strings.TrimSpace(string(out)))
	if err != nil {
		return err
	}
	step("dashboard overview over %s: 12 months and 30 days, 3 cold loads each", label)
	var year, month []time.Duration
	failed := map[string]bool{}
	for i := range 3 {
		for _, r := range []struct {
			rng string
			to  *[]time.Duration
		}{{"12mo", &year}, {"30d", &month}} {
			if i > 0 || r.rng != "12mo" {
				// A section's rendering answers the fetches that follow
				// its page for 10 s (dashboard/render.go:flightKeep).
				time.Sleep(11 * time.Second)
			}
			took, failures, err := loadOverview(client, addr, cookie, r.rng)
			if err != nil {
				return err
			}
			for _, f := range failures {
				failed[r.rng+": "+f] = true
			}
			*r.to = append(*r.to, took)
		}
	}
	slices.Sort(year)
	slices.Sort(month)
	metric := "overview, 12 months, until every section is ready (median of 3)"
	if len(failed) > 0 {
		// A failed section is not ready: the figure is when the last one
		// answered, and the target is missed.
		metric += fmt.Sprintf("; FAILED: %s", strings.Join(slices.Sorted(maps.Keys(failed)), ", "))
	}
	b.add(Row{Section: "dashboard " + label, Metric: metric, Value: ms(year[1]), Unit: "ms",
		Baseline: ms(month[1]), Target: "<= 1500 ms", Now: "about 6 s"}, year[1] <= 1500*time.Millisecond && len(failed) == 0)
	b.add(Row{Section: "dashboard " + label, Metric: "overview, 12 months, slowest of 3", Value: ms(year[2]), Unit: "ms", Baseline: ms(month[2])}, true)
	return nil
}

// failedSection marks a section that failed (dashboard/templates/sections.html).
const failedSection = `class="failed" role="alert"`

var deferredSection = regexp.MustCompile(`data-src="([^"]+)" data-deferred`)

// loadOverview loads the overview for a date range preset as the page's
// script does and returns how long until every section had answered, and
// the sections that failed (with their status).
func loadOverview(client *http.Client, addr, cookie, rng string) (time.Duration, []string, error) {
	get := func(path string) (int, string, error) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Cookie", cookie)
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	start := time.Now()
	status, page, err := get("/dashboard?range=" + rng)
	if err != nil || status != http.StatusOK {
		return 0, nil, fmt.Errorf("GET /dashboard?range=%s: %d %v", rng, status, err)
	}
	var failed []string
	if n := strings.Count(page, failedSection); n > 0 {
		failed = append(failed, fmt.Sprintf("%d sections on the page", n))
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for _, m := range deferredSection.FindAllStringSubmatch(page, -1) {
		wg.Go(func() {
			path := html.UnescapeString(m[1])
			status, body, err := get(path)
			if err == nil && status == http.StatusOK && !strings.Contains(body, failedSection) {
				return
			}
			name, _, _ := strings.Cut(path[strings.LastIndexByte(path, '/')+1:], "?")
			mu.Lock()
			failed = append(failed, fmt.Sprintf("%s (%d)", name, status))
			mu.Unlock()
		})
	}
	wg.Wait()
	return time.Since(start), failed, nil
}

// waitReady waits until the server at addr answers /readyz with 200.
func waitReady(addr string, limit time.Duration) error {
	for deadline := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server on %s is not ready after %s", addr, limit)
		}
	}
}
