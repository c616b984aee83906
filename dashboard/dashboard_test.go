package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/dashboard"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/registry"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

// env is a dashboard on a fresh database of the test ClickHouse, with
// 600 events of each credential c0..c5, half of them views, in groups
// g0..g2 (credential i in group i%3).
type env struct {
	t     *testing.T
	conn  driver.Conn
	app   *fiber.App
	keys  *auth.Keys
	links *auth.Links
}

const seeded = 3600

func newEnv(t *testing.T, o dashboard.Options) *env {
	_, conn := chtest.New(t)
	ctx := context.Background()
	err := conn.Exec(ctx, `INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
	url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)
SELECT generateUUIDv4(), toDateTime(now() - 3600 - (number * 97) % (20 * 86400)),
	concat('c', toString(number % 6)), concat('g', toString((number % 6) % 3)),
	arrayElement(['view', 'view', 'view', 'share', 'download', 'linkedin_add'], (intDiv(number, 6) % 6) + 1),
	if(intDiv(number, 6) % 6 = 3, 'linkedin', ''), if(number % 4 = 0, 'recipient', 'guest'), 'beacon',
	cityHash64(number % 500), '', '', 't.co', '', 'DE', 'Chrome', 'Linux', 'desktop', ''
FROM numbers(3600)`)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, conn: conn, keys: auth.NewKeys(conn, 0)}
	engine := query.NewEngine(conn, time.Now)
	// The rollups fill after the events table.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := engine.Run(ctx, query.Query{Metrics: []string{"events"}, DateRange: query.DateRange{Preset: "all"}})
		if err == nil && len(r.Results) == 1 && r.Results[0].Metrics[0] == seeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollups did not fill: %+v, %v", r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	o.Engine, o.Keys, o.Conn, o.CacheTTL = engine, e.keys, conn, -1
	if o.Secret == nil {
		o.Secret = []byte(strings.Repeat("k", 32))
	}
	e.links = auth.NewLinks(conn, o.Secret, 0)
	e.app = fiber.New()
	dashboard.New(o).Routes(e.app)
	return e
}

type response struct {
	status int
	header http.Header
	body   string
}

func (e *env) get(path, cookie string) response {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	res, err := e.app.Test(req, 30_000)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

func (e *env) signIn(token string) response {
	e.t.Helper()
	form := url.Values{"key": {token}, "next": {"/dashboard?range=all"}}
	req := httptest.NewRequest(http.MethodPost, "/dashboard/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req)
}

var viewsRe = regexp.MustCompile(`data-metric="views" data-value="([0-9.]+)"`)

func views(t *testing.T, body string) string {
	t.Helper()
	m := viewsRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no views on the page:\n%s", body)
	}
	return m[1]
}

func TestSignIn(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	ctx := context.Background()
	dash, k, err := e.keys.Create(ctx, "marketing", []string{auth.Dashboard})
	if err != nil {
		t.Fatal(err)
	}
	stats, _, _ := e.keys.Create(ctx, "service", []string{auth.StatsRead})

	r := e.get("/dashboard?range=7d", "")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard/login?next=%2Fdashboard%3Frange%3D7d" {
		t.Fatalf("signed out: %d to %q, want 303 to the sign-in form", r.status, r.header.Get("Location"))
	}
	if r := e.get("/dashboard/sections/headline", ""); r.status != http.StatusUnauthorized {
		t.Errorf("signed-out section: %d, want 401", r.status)
	}
	for _, bad := range []struct {
		token  string
		status int
	}{{"", 400}, {"csk_nonsense", 401}, {stats, 403}} {
		if r := e.signIn(bad.token); r.status != bad.status || r.header.Get("Set-Cookie") != "" {
			t.Errorf("sign in with %q: %d (cookie %q), want %d and no cookie", bad.token, r.status, r.header.Get("Set-Cookie"), bad.status)
		}
	}
	r = e.signIn(dash)
	cookie := r.header.Get("Set-Cookie")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/dashboard?range=all" {
		t.Fatalf("sign in: %d to %q", r.status, r.header.Get("Location"))
	}
	for _, want := range []string{"credstats_session=", "httponly", "samesite=strict", "path=/dashboard"} {
		if !strings.Contains(strings.ToLower(cookie), strings.ToLower(want)) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	cookie = strings.Split(cookie, ";")[0]
	page := e.get("/dashboard?range=all", cookie)
	if page.status != 200 || views(t, page.body) != "1800" {
		t.Fatalf("overview: %d, views %s, want 200 and 1800", page.status, views(t, page.body))
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("no content security policy: %q", csp)
	}
	if strings.Contains(page.body, "http://") || strings.Contains(page.body, "https://") {
		t.Errorf("the page names another host")
	}
	if err := e.keys.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.get("/dashboard?range=all", cookie); r.status != http.StatusSeeOther {
		t.Errorf("after the key's revocation: %d, want 303 to sign in", r.status)
	}
}

func TestLinkScope(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	ctx := context.Background()
	link, token, err := e.links.Create(ctx, "partner", auth.Scope{Kind: auth.ScopeGroup, Value: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	base := "/dashboard/s/" + token
	// Group g1 holds c1 and c4: 600 views.
	page := e.get(base+"?range=all", "")
	if page.status != 200 || views(t, page.body) != "600" {
		t.Fatalf("group link: %d, views %s, want 200 and 600", page.status, views(t, page.body))
	}
	// The address cannot widen the scope.
	if v := views(t, e.get(base+"?range=all&group=g2", "").body); v != "600" {
		t.Errorf("group link asking for g2: views %s, want g1's 600", v)
	}
	if r := e.get(base+"/credentials/c4?range=all", ""); r.status != 200 || views(t, r.body) != "300" {
		t.Errorf("own credential: %d, views %s", r.status, views(t, r.body))
	}
	for _, path := range []string{"/credentials/c2", "/credentials/c2?group=g2"} {
		if r := e.get(base+path, ""); r.status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, r.status)
		}
	}
	if r := e.get(base+"/credentials/c2/sections/headline?range=all", ""); strings.Contains(r.body, `data-metric="views" data-value="300"`) {
		t.Errorf("a section of another group's credential shows its numbers")
	}
	if r := e.get(base+"/export.csv?section=credentials&range=all&group=g0", ""); r.status != 200 || strings.Contains(r.body, "c0") || !strings.Contains(r.body, "c1") {
		t.Errorf("CSV of a group link: %d\n%s", r.status, r.body)
	}
	if r := e.get("/dashboard", ""); r.status != http.StatusSeeOther {
		t.Errorf("the link opened the signed-in dashboard: %d", r.status)
	}
	tampered := base[:len(base)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(base, "A")]
	if r := e.get(tampered, ""); r.status != http.StatusNotFound {
		t.Errorf("tampered link: %d, want 404", r.status)
	}
	// Signed with another secret, the same link does not open.
	other := auth.NewLinks(e.conn, []byte(strings.Repeat("x", 32)), 0).Token(link)
	if r := e.get("/dashboard/s/"+other, ""); r.status != http.StatusNotFound {
		t.Errorf("link signed with another secret: %d, want 404", r.status)
	}

	_, ctoken, _ := e.links.Create(ctx, "", auth.Scope{Kind: auth.ScopeCredential, Value: "c3"})
	cbase := "/dashboard/s/" + ctoken
	if r := e.get(cbase+"?range=all&credential=c0", ""); r.status != 200 || views(t, r.body) != "300" || !strings.Contains(r.body, "c3") {
		t.Errorf("credential link: %d, views %s", r.status, views(t, r.body))
	}
	for _, path := range []string{"/credentials/c0", "/credentials/c0/sections/headline", "/credentials/c0/export.csv"} {
		if r := e.get(cbase+path, ""); r.status != http.StatusNotFound {
			t.Errorf("credential link %s: %d, want 404", path, r.status)
		}
	}
	if err := e.links.Revoke(ctx, link.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.get(base, ""); r.status != http.StatusGone {
		t.Errorf("revoked link: %d, want 410", r.status)
	}
}

// TestSlowSectionsLoadOnTheirOwn: with no time to wait, the page comes
// back at once with every section left to the browser, each of which the
// section route then answers.
func TestSlowSectionsLoadOnTheirOwn(t *testing.T) {
	e := newEnv(t, dashboard.Options{Budget: time.Nanosecond})
	_, token, _ := e.links.Create(context.Background(), "", auth.Scope{Kind: auth.ScopeGroup, Value: "g0"})
	page := e.get("/dashboard/s/"+token+"?range=all", "")
	srcs := regexp.MustCompile(`data-src="([^"]+)" data-deferred`).FindAllStringSubmatch(page.body, -1)
	if page.status != 200 || len(srcs) < 7 {
		t.Fatalf("page: %d with %d deferred sections", page.status, len(srcs))
	}
	for _, m := range srcs {
		src := strings.ReplaceAll(m[1], "&amp;", "&")
		r := e.get(src, "")
		if r.status != 200 || strings.Contains(r.body, "failed") {
			t.Errorf("%s: %d\n%s", src, r.status, r.body)
		}
		if strings.Contains(src, "/trend") && !strings.Contains(r.body, `data-chart="trend"`) {
			t.Errorf("the trend section has no chart:\n%s", r.body)
		}
	}
}

// TestRankingsShowTheRegistrysNames: a registered credential and group
// are listed by name, with the id on hover; the others by id.
func TestRankingsShowTheRegistrysNames(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	ctx := context.Background()
	err := registry.Store{Conn: e.conn}.Put(ctx, []registry.Entry{
		{ID: "c1", Name: "Data Science <101>", Group: "g1", GroupName: "Spring cohort", Status: registry.Valid},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := e.links.Create(ctx, "", auth.Scope{Kind: auth.ScopeGroup, Value: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	base := "/dashboard/s/" + token
	r := e.get(base+"/sections/credentials?range=all", "")
	if r.status != 200 || !strings.Contains(r.body, `title="c1"`) || !strings.Contains(r.body, "Data Science &lt;101&gt;") || !strings.Contains(r.body, ">c4<") {
		t.Errorf("credentials: %d\n%s", r.status, r.body)
	}
	// The search finds credentials by name, and by id where none is known.
	for search, want := range map[string]string{"Science": "c1", "c4": "c4"} {
		r := e.get(base+"/sections/credentials?range=all&search="+search, "")
		if r.status != 200 || strings.Count(r.body, `<th scope="row"`) != 1 || !strings.Contains(r.body, "/credentials/"+want+"?") {
			t.Errorf("search %q: %d\n%s", search, r.status, r.body)
		}
	}
	csv := e.get(base+"/export.csv?section=credentials&range=all", "")
	if csv.status != 200 || !strings.Contains(csv.body, "credential,credential_name,") || !strings.Contains(csv.body, "c1,Data Science <101>,") || !strings.Contains(csv.body, "c4,c4,") {
		t.Errorf("credentials CSV: %d\n%s", csv.status, csv.body)
	}
	owner, _, err := e.keys.Create(ctx, "owner", []string{auth.Dashboard})
	if err != nil {
		t.Fatal(err)
	}
	cookie := e.signIn(owner).header.Get("Set-Cookie")
	r = e.get("/dashboard/sections/groups?range=all", strings.Split(cookie, ";")[0])
	if r.status != 200 || !strings.Contains(r.body, `title="g1"`) || !strings.Contains(r.body, ">Spring cohort<") || !strings.Contains(r.body, ">g2<") {
		t.Errorf("groups: %d\n%s", r.status, r.body)
	}
}
