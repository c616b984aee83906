package aggregator_test

import (
	"bytes"
	"context"
	"image/png"
	"testing"
	"time"

	"github.com/credstats/credstats/aggregator/internal/rolluptest"
)

// TestSocialCardCountsUnfurlsNotViews: the card is a 1200x630 PNG; a
// link-preview crawler's fetch is stored as an unfurl of its network, once
// an hour, and never as an event; a browser's fetch is neither.
func TestSocialCardCountsUnfurlsNotViews(t *testing.T) {
	e := newEnv(t, nil)
	rolluptest.Seed(t, e.conn, 300, 5, rolluptest.Now, 10*24*time.Hour)
	ctx := context.Background()
	count := func(sql string) uint64 {
		t.Helper()
		var n uint64
		must(t, e.conn.QueryRow(ctx, sql).Scan(&n))
		return n
	}
	events := count("SELECT count() FROM events")
	for _, ua := range []string{
		"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
		"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
		"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	} {
		r := e.do("GET", "/og/cred.8.png", "", map[string]string{"User-Agent": ua})
		if r.status != 200 || r.header.Get("Content-Type") != "image/png" {
			t.Fatalf("%s: %d %v %s", ua, r.status, r.header, r.body)
		}
		img, err := png.Decode(bytes.NewReader([]byte(r.body)))
		if err != nil || img.Bounds().Dx() != 1200 || img.Bounds().Dy() != 630 {
			t.Fatalf("not a 1200x630 PNG: %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for count("SELECT count() FROM unfurls") < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	rows, err := e.conn.Query(ctx, "SELECT credential, toString(network), crawler FROM unfurls ORDER BY crawler")
	must(t, err)
	var got []string
	for rows.Next() {
		var c, n, crawler string
		must(t, rows.Scan(&c, &n, &crawler))
		got = append(got, c+"/"+n+"/"+crawler)
	}
	rows.Close()
	if want := []string{"cred.8/linkedin/LinkedInBot", "cred.8/other/Slackbot"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("unfurls %q, want %q", got, want)
	}
	if n := count("SELECT count() FROM events"); n != events {
		t.Errorf("%d events after the card's fetches, %d before", n, events)
	}
	for _, path := range []string{"/og/cred.8.svg", "/og/bad%20id.png"} {
		if r := e.get(path); r.status != 404 {
			t.Errorf("%s: %d", path, r.status)
		}
	}
}
