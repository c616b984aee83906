package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/registry"
)

// TestOrganizationsSeeOnlyTheirOwn: two issuers on one server. Each
// organization's keys and links see only its credentials (those the
// registry names it for, and those whose pages are on its hosts unless the
// registry names another), through the query API, the export, the
// registry list, the dashboard's sections, pages and CSVs; an operator's
// key sees all; no filter or address widens the scope.
func TestOrganizationsSeeOnlyTheirOwn(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	operator, _ := e.createKey(auth.Operator)
	admin := func(method, path, body, token string) response {
		return e.do(request{method: method, path: path, body: body,
			header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token}})
	}
	if r := admin("POST", "/api/v1/admin/orgs", `{"name":"Acme Academy","hosts":["certs.acme.test"]}`, operator); r.status != 201 || !strings.Contains(r.body, `"id":"acme-academy"`) {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := admin("POST", "/api/v1/admin/orgs", `{"name":"Beta","hosts":["B.example"]}`, operator); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/admin/orgs", `{"name":"Copycat","hosts":["certs.acme.test"]}`},
		{"POST", "/api/v1/admin/orgs", `{"name":"Bad host","hosts":["http://x"]}`},
		{"POST", "/api/v1/admin/orgs", `{"name":""}`},
		{"PATCH", "/api/v1/admin/orgs/beta", `{"hosts":["certs.acme.test"]}`},
	} {
		if r := admin(c.method, c.path, c.body, operator); r.status != 400 {
			t.Errorf("%s %s: %d %s, want 400", c.method, c.body, r.status, r.body)
		}
	}
	if r := admin("PATCH", "/api/v1/admin/orgs/beta", `{"name":"Beta Badges"}`, operator); r.status != 200 || !strings.Contains(r.body, "Beta Badges") {
		t.Errorf("rename: %d %s", r.status, r.body)
	}
	plain, _ := e.createKey(auth.StatsRead)
	if r := admin("GET", "/api/v1/admin/orgs", "", plain); r.status != 403 {
		t.Errorf("orgs with a stats key: %d", r.status)
	}

	keys := auth.NewKeys(e.conn, 0)
	orgKey := func(org string, scopes ...string) string {
		token, _, err := keys.CreateIn(ctx, org, "k", scopes)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	acme, beta := orgKey("acme-academy", auth.StatsRead, auth.Dashboard, auth.RegistryWrite), orgKey("beta", auth.StatsRead, auth.Dashboard)
	if _, _, err := keys.CreateIn(ctx, "beta", "k", []string{auth.Operator}); err == nil {
		t.Error("an organization's key got the operator scope")
	}

	// a1 is Acme's by the registry, a2 by its page's host; x1's page is on
	// Acme's host but the registry names Beta; b2 is Beta's by its host.
	err := registry.Store{Conn: e.conn}.Put(ctx, []registry.Entry{
		{ID: "a1", Name: "Acme One", Organization: "acme-academy", Status: registry.Valid},
		{ID: "x1", Name: "Beta Crossed", Organization: "beta", Status: registry.Valid},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []struct{ credential, host string }{
		{"a1", "elsewhere.test"}, {"a2", "certs.acme.test"}, {"x1", "certs.acme.test"}, {"b2", "b.example"}, {"z9", "nobody.test"},
	} {
		body := fmt.Sprintf(`{"credential":%q,"type":"view","url":"https://%s/c/%s"}`, v.credential, v.host, v.credential)
		if r := e.do(request{method: "POST", path: "/api/event", body: body, from: fmt.Sprintf("127.0.0.%d", i+2)}); r.status != 202 {
			t.Fatalf("event: %d %s", r.status, r.body)
		}
	}
	e.sync()

	credentials := func(token, body string) []string {
		t.Helper()
		r := admin("POST", "/api/v1/query", body, token)
		var res struct {
			Results []struct{ Dimensions []string }
		}
		if err := json.Unmarshal([]byte(r.body), &res); err != nil || r.status != 200 {
			t.Fatalf("query: %d %s", r.status, r.body)
		}
		var out []string
		for _, row := range res.Results {
			out = append(out, row.Dimensions[0])
		}
		slices.Sort(out)
		return out
	}
	byCredential := `{"metrics":["views"],"dimensions":["credential"],"filters":[["is_not","credential",["marker"]],["contains","credential",["1","2","9"]]],"date_range":"all"}`
	for _, c := range []struct {
		who, token string
		want       []string
	}{
		{"Acme", acme, []string{"a1", "a2"}},
		{"Beta", beta, []string{"b2", "x1"}},
		{"the operator", plain, []string{"a1", "a2", "b2", "x1", "z9"}},
	} {
		if got := credentials(c.token, byCredential); !slices.Equal(got, c.want) {
			t.Errorf("%s sees %v, want %v", c.who, got, c.want)
		}
	}
	// A filter does not widen the scope, nor does a total.
	if got := credentials(acme, `{"metrics":["views"],"dimensions":["credential"],"filters":[["is","credential",["b2","x1"]]],"date_range":"all"}`); len(got) != 0 {
		t.Errorf("Acme filtering on Beta's credentials sees %v", got)
	}
	if r := admin("POST", "/api/v1/query", `{"metrics":["views"],"date_range":"all"}`, acme); !strings.Contains(r.body, `"metrics":[2]`) {
		t.Errorf("Acme's total: %s", r.body)
	}
	r := e.do(request{method: "GET", path: "/api/v1/export?query=" + url.QueryEscape(byCredential), header: map[string]string{"Authorization": "Bearer " + beta}})
	if r.status != 200 || strings.Contains(r.body, "a1") || strings.Contains(r.body, "a2") || !strings.Contains(r.body, "x1") {
		t.Errorf("Beta's export: %d\n%s", r.status, r.body)
	}

	// The registry: an organization's key records and lists its own.
	if r := admin("PUT", "/api/v1/credentials/a3", `{"name":"Acme Three","organization":"beta"}`, acme); r.status != 400 {
		t.Errorf("Acme recording for Beta: %d %s", r.status, r.body)
	}
	if r := admin("PUT", "/api/v1/credentials/a3", `{"name":"Acme Three"}`, acme); r.status != 200 || !strings.Contains(r.body, `"organization":"acme-academy"`) {
		t.Errorf("Acme recording: %d %s", r.status, r.body)
	}
	if r := admin("GET", "/api/v1/credentials?sort-field=id&sort-direction=asc", "", acme); !strings.Contains(r.body, `"count":2`) || strings.Contains(r.body, "x1") {
		t.Errorf("Acme's registry list: %s", r.body)
	}

	// The dashboard of each, its sections, pages and CSVs.
	acmeCookie := e.signIn(acme)
	page := func(path, cookie string) response {
		return e.do(request{method: "GET", path: path, header: map[string]string{"Cookie": cookie}})
	}
	for _, path := range []string{"/dashboard/sections/credentials?range=all", "/dashboard/export.csv?section=credentials&range=all"} {
		r := page(path, acmeCookie)
		if r.status != 200 || !strings.Contains(r.body, "a2") || strings.Contains(r.body, "b2") || strings.Contains(r.body, "x1") || strings.Contains(r.body, "z9") {
			t.Errorf("Acme's %s: %d\n%s", path, r.status, r.body)
		}
	}
	if r := page("/dashboard/sections/credentials?range=all", acmeCookie); !strings.Contains(r.body, "Acme One") {
		t.Errorf("Acme's credentials have no names:\n%s", r.body)
	}
	if r := page("/dashboard/credentials/b2?range=all", acmeCookie); r.status != 404 {
		t.Errorf("Acme opening Beta's credential: %d", r.status)
	}
	if r := page("/dashboard/credentials/x1/sections/headline?range=all", acmeCookie); !strings.Contains(r.body, `data-metric="views" data-value="0"`) {
		t.Errorf("Acme reading a section of Beta's credential:\n%s", r.body)
	}
	if r := page("/dashboard/sections/credentials?range=all", e.signIn(beta)); strings.Contains(r.body, "a2") || !strings.Contains(r.body, "x1") {
		t.Errorf("Beta's credentials:\n%s", r.body)
	}

	// Deleting an organization revokes its keys.
	if r := admin("DELETE", "/api/v1/admin/orgs/beta", "", operator); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	ks, err := keys.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.Organization == "beta" && !k.Revoked() {
			t.Errorf("key %s of the deleted organization still works", k.ID)
		}
	}
	if r := admin("GET", "/api/v1/admin/orgs", "", operator); strings.Contains(r.body, `"beta"`) || !strings.Contains(r.body, "acme-academy") {
		t.Errorf("after the deletion: %s", r.body)
	}
}
