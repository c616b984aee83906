package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credstats/credstats/internal/store"
)

// access measures what the hardening and the dashboard cost: how many
// requests with a made-up API key the server answers when its negative
// cache answers them, against when each costs a ClickHouse lookup, and
// what the dashboard's first load transfers.
func (b *bench) access(dir string) error {
	const addr = "127.0.0.1:18906"
	db := fmt.Sprintf("bench_access_%d", time.Now().Unix())
	dsn := fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", b.chPort, db)
	if _, err := b.start(b.bin, "serve", "--listen", addr, "--clickhouse", dsn, "--data-dir", filepath.Join(dir, "access"),
		"--trusted-proxies", "127.0.0.1", "--rate-limit", "-1", "--log-level", "error"); err != nil {
		return err
	}
	defer b.stopAll()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the access benchmark's server is not ready")
		}
	}

	step("unknown API keys: one repeated (answered from memory) against a new one each time (a ClickHouse lookup)")
	same := "csk_00000000000000aa_" + strings.Repeat("0", 48)
	var n atomic.Int64
	cached := rate(addr, func(int64) (string, string) { return same, "198.51.100.1" })
	fresh := rate(addr, func(i int64) (string, string) {
		// Each from another address, so the failed-authentication limit
		// does not answer in ClickHouse's place.
		return fmt.Sprintf("csk_%016x_%s", n.Add(1), strings.Repeat("0", 48)), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	})
	b.add(Row{Section: "access", Metric: "unknown key, repeated (negative cache)", Value: cached, Unit: "req/s", Baseline: fresh}, true)
	b.add(Row{Section: "access", Metric: "unknown key, new each time (ClickHouse lookup)", Value: fresh, Unit: "req/s"}, true)

	step("dashboard: the overview's first load with a cold cache")
	out, err := exec.Command(b.bin, "keys", "create", "--name", "bench", "--scope", "dashboard", "--clickhouse", dsn).Output()
	if err != nil {
		return fmt.Errorf("cannot create a dashboard key: %w", err)
	}
	size, err := firstLoad(addr, strings.TrimSpace(string(out)))
	if err != nil {
		return err
	}
	b.add(Row{Section: "dashboard", Metric: "first load, cold cache, compressed", Value: float64(size) / 1000, Unit: "KB", Target: "<= 150"}, size <= 150_000)
	b.stopAll()
	if conn, err := store.Open(context.Background(), dsn, store.Options{}); err == nil {
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		conn.Close()
	}
	return nil
}

// rate sends POST /api/v1/query from 16 clients for two seconds, each with
// the key and client address next gives, and returns the answers a second.
func rate(addr string, next func(i int64) (key, client string)) float64 {
	const d = 2 * time.Second
	var done, i atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	stop := time.Now().Add(d)
	for range 16 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				key, from := next(i.Add(1))
				req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/query", strings.NewReader(`{"metrics":["views"]}`))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("X-Forwarded-For", from)
				if resp, err := client.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds()
}

var assetRef = regexp.MustCompile(`/dashboard/assets/[^"'?\s]+(\?v=[^"'\s]+)?`)

// firstLoad signs in with key and adds up the bytes on the wire, gzip
// accepted as browsers do, of the overview page and every asset it names.
func firstLoad(addr, key string) (int, error) {
	base := "http://" + addr
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cookie, err := signIn(client, addr, key)
	if err != nil {
		return 0, err
	}
	// get answers the body as sent: with Accept-Encoding set by hand, the
	// client leaves it compressed.
	get := func(path string, gzip bool) (string, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Cookie", cookie)
		if gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}
	page, err := get("/dashboard", false)
	if err != nil {
		return 0, err
	}
	sent, err := get("/dashboard", true)
	if err != nil {
		return 0, err
	}
	total := len(sent)
	refs := assetRef.FindAllString(page, -1)
	if len(refs) == 0 {
		return 0, fmt.Errorf("the overview names no assets")
	}
	seen := map[string]bool{}
	for _, ref := range refs {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		body, err := get(ref, true)
		if err != nil {
			return 0, err
		}
		total += len(body)
	}
	return total, nil
}

// signIn signs in to the dashboard with key and returns the session cookie.
func signIn(client *http.Client, addr, key string) (string, error) {
	base := "http://" + addr
	req, _ := http.NewRequest("POST", base+"/dashboard/login", strings.NewReader("key="+key+"&next=/dashboard"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	cookie, _, _ := strings.Cut(resp.Header.Get("Set-Cookie"), ";")
	if cookie == "" {
		return "", fmt.Errorf("signing in to the dashboard gave %d and no cookie", resp.StatusCode)
	}
	return cookie, nil
}
