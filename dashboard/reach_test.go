package dashboard_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/credstats/credstats/dashboard"
	"github.com/credstats/credstats/internal/auth"
)

// TestReachCard: a credential's page says where its viewers came from,
// with a network's shares and the views they brought in one row.
func TestReachCard(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	ctx := context.Background()
	b, err := e.conn.PrepareBatch(ctx, `INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
	url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason, arrived_from, shared_by)`)
	if err != nil {
		t.Fatal(err)
	}
	add := func(n int, typ, network, actor, from, by string) {
		for i := range n {
			if err := b.Append(uuid.New(), time.Now().Add(-2*time.Hour), "reach-1", "g9", typ, network, actor, "beacon", uint64(i+1),
				"certs.example.org", "/c/reach-1", "", "", "DE", "Chrome", "Linux", "desktop", "", from, by); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(2, "share", "linkedin", "recipient", "linkedin", "recipient")
	add(5, "view", "", "guest", "linkedin", "recipient")
	add(1, "view", "", "guest", "linkedin", "")
	add(3, "view", "", "guest", "direct", "")
	add(2, "verify", "", "guest", "linkedin", "recipient")
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	waitForEvents(t, e, seeded+13)
	u, err := e.conn.PrepareBatch(ctx, "INSERT INTO unfurls (time, credential, network, crawler)")
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Now().Add(-3 * time.Hour).Truncate(time.Hour)
	for _, x := range []struct {
		at           time.Time
		cred, n, bot string
	}{{hour, "reach-1", "linkedin", "LinkedInBot"}, {hour.Add(time.Minute), "reach-1", "linkedin", "LinkedInBot"},
		{hour.Add(time.Hour), "reach-1", "linkedin", "LinkedInBot"}, {hour, "reach-1", "other", "Slackbot"}, {hour, "reach-2", "twitter", "Twitterbot"}} {
		if err := u.Append(x.at, x.cred, x.n, x.bot); err != nil {
			t.Fatal(err)
		}
	}
	if err := u.Send(); err != nil {
		t.Fatal(err)
	}
	cookie := marketer(t, e)
	r := e.get("/dashboard/credentials/reach-1/sections/reach?range=all", cookie)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	cells := regexp.MustCompile(`<span>([^<]+)</span></th>((?:<td class="num" data-label="[^"]*">[^<]*</td>)+)`)
	got := map[string]string{}
	for _, m := range cells.FindAllStringSubmatch(r.body, -1) {
		got[m[1]] = regexp.MustCompile(`<td class="num" data-label="[^"]*">([^<]*)</td>`).ReplaceAllString(m[2], "$1 ")
	}
	want := map[string]string{"LinkedIn": "2 6 3.00 5 2 ", "Direct": "0 3 0.00 0 0 ", "Other": "0 0 0.00 0 1 "}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q (all: %q)", k, got[k], w, got)
		}
	}
	if !strings.Contains(r.body, "2 shares; 6 views by visitors who arrived through shares (also shares made without your buttons); 2 verifications by those visitors.") {
		t.Errorf("the card does not say the share -> arrival -> verification path:\n%s", r.body)
	}
	if !strings.Contains(r.body, "data-note") {
		t.Error("the card does not say how to read it")
	}
	if _, ok := got["X (Twitter)"]; ok {
		t.Errorf("another credential's unfurls show: %q", got)
	}
	// A group's view cannot be told its unfurls: they name no group.
	g := e.get("/dashboard/sections/reach?range=all&group=g9", cookie)
	if g.status != 200 || strings.Contains(g.body, "Link previews") {
		t.Errorf("a group's reach card: %d, shows unfurls: %v", g.status, strings.Contains(g.body, "Link previews"))
	}
	csv := e.get("/dashboard/credentials/reach-1/export.csv?section=reach&range=all", cookie)
	if csv.status != 200 || !strings.Contains(csv.body, "linkedin,2,6,3,5,2") {
		t.Errorf("CSV %d:\n%s", csv.status, csv.body)
	}
}

// marketer signs in with a new dashboard key and returns the session cookie.
func marketer(t *testing.T, e *env) string {
	t.Helper()
	token, _, err := e.keys.Create(context.Background(), "marketing", []string{auth.Dashboard})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(e.signIn(token).header.Get("Set-Cookie"), ";")[0]
}
