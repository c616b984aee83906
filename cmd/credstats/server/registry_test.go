package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/credstats/credstats/internal/auth"
)

// TestCredentialRegistry: entries are recorded one by one or in an
// all-or-nothing NDJSON import, listed with their counters in the
// platforms' envelope, give their group to the compatible routes' events,
// and many credentials' counters come in one call.
func TestCredentialRegistry(t *testing.T) {
	e := newEnv(t, nil)
	writer, _ := e.createKey(auth.RegistryWrite)
	reader, _ := e.createKey(auth.StatsRead)
	events, _ := e.createKey(auth.EventsWrite)
	call := func(method, path, token, body string) response {
		h := map[string]string{"Content-Type": "application/json"}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		return e.do(request{method: method, path: path, body: body, header: h})
	}

	entry := `{"name":"Data Science 101","recipient_name":"Ada Lovelace","group":"course-9","group_name":"Course 9","issued_at":"2026-01-05T10:00:00Z"}`
	for _, c := range []struct {
		name, token, body string
		status            int
		says              string
	}{
		{"no key", "", entry, 401, ""},
		{"a stats key", reader, entry, 403, ""},
		{"an unknown field", writer, `{"title":"x"}`, 400, "title"},
		{"another id", writer, `{"id":"c-2"}`, 400, "id"},
		{"a bad status", writer, `{"status":"lost"}`, 400, "status"},
		{"a formula as a name is only text", writer, `{"name":"=HYPERLINK(\"x\")"}`, 200, ""},
		{"the entry", writer, entry, 200, "Ada Lovelace"},
	} {
		r := call("PUT", "/api/v1/credentials/c-1", c.token, c.body)
		if r.status != c.status || !strings.Contains(r.body, c.says) {
			t.Errorf("%s: %d %s; want %d saying %q", c.name, r.status, r.body, c.status, c.says)
		}
	}

	// One bad line and nothing is imported; the message names the line.
	lines := []string{
		`{"id":"c-2","name":"Cloud Basics","group":"course-9","status":"expired"}`,
		`{"id":"c-3","name":"Security","status":"lost"}`,
		`{"id":"c-4","name":"Zoology","group":"course-2","issued_at":"2025-06-01T00:00:00Z"}`,
	}
	if r := call("POST", "/api/v1/credentials/import", writer, strings.Join(lines, "\n")); r.status != 400 || !strings.Contains(r.body, "line 2: status") {
		t.Errorf("import with a bad line: %d %s", r.status, r.body)
	}
	list := func(query string) (out struct {
		Credentials struct {
			Params map[string]any
			Count  int
			Rows   []struct {
				ID, Name, Group, Status string
				Stats                   struct{ Views int }
			}
		}
	}) {
		r := call("GET", "/api/v1/credentials"+query, reader, "")
		if r.status != 200 {
			t.Fatalf("list %s: %d %s", query, r.status, r.body)
		}
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if n := list("").Credentials.Count; n != 1 {
		t.Errorf("%d credentials after a refused import, want 1", n)
	}
	lines[1] = `{"id":"c-3","name":"Security","status":"revoked"}`
	if r := call("POST", "/api/v1/credentials/import", writer, strings.Join(lines, "\n")+"\n"); r.status != 200 || !strings.Contains(r.body, `"imported":3`) {
		t.Fatalf("import: %d %s", r.status, r.body)
	}

	// The compatible routes' events take the group of the registry.
	at := e.clock.Now().Add(-time.Minute).Format(time.RFC3339)
	r := e.do(request{method: "POST", path: "/v1/credential-interactions",
		body:   fmt.Sprintf(`{"credentialId":"c-1","eventType":"credential_viewed","triggeredBy":"guest","triggeredAt":%q}`, at),
		header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + events, "Certifier-Version": "2022-10-26"}})
	if r.status != 200 {
		t.Fatalf("interaction: %d %s", r.status, r.body)
	}
	if r := e.post("/awards/c-2/event", `{"parameters":{"kind":"view"}}`); r.status != 200 {
		t.Fatalf("badges.ninja event: %d %s", r.status, r.body)
	}
	e.post("/api/event", `{"credential":"c-1","type":"view","group":"course-9"}`)
	if n := e.count("credential IN ('c-1', 'c-2') AND group_id = 'course-9'"); n != 3 {
		t.Errorf("%d of 3 events in the registry's group", n)
	}

	// Listed by name, a page at a time, with counters.
	got := list("?sort-field=name&sort-direction=asc&page-size=2&current-page=2")
	c := got.Credentials
	if c.Count != 4 || len(c.Rows) != 2 || c.Rows[0].ID != "c-3" || c.Rows[1].ID != "c-4" || c.Rows[0].Status != "revoked" || c.Params["page-size"] != 2.0 {
		t.Errorf("page 2 by name: %+v", c)
	}
	first := list("?sort-field=name&page-size=1&sort-direction=desc").Credentials.Rows
	if len(first) != 1 || first[0].ID != "c-4" {
		t.Errorf("first by name descending: %+v", first)
	}
	byIssue := list("?sort-field=issued_at&sort-direction=desc&page-size=10").Credentials.Rows
	if len(byIssue) != 4 || byIssue[0].ID != "c-1" || byIssue[0].Name != "Data Science 101" || byIssue[0].Stats.Views != 2 {
		t.Errorf("by issue date: %+v", byIssue)
	}
	for _, q := range []string{"?sort-field=views", "?sort-direction=up", "?page-size=0", "?page-size=101", "?current-page=0", "?current-page=x"} {
		if r := call("GET", "/api/v1/credentials"+q, reader, ""); r.status != 400 || r.errorCode() != "invalid_request" {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}

	// Many credentials' counters in one call, as each one's own route says.
	r = e.post("/api/v1/credentials/stats", `{"ids":["c-1","c-2","nobody","c-1"]}`)
	var many struct{ Stats map[string]map[string]any }
	if err := json.Unmarshal([]byte(r.body), &many); err != nil || r.status != 200 || len(many.Stats) != 3 {
		t.Fatalf("many stats: %d %s", r.status, r.body)
	}
	for _, id := range []string{"c-1", "c-2", "nobody"} {
		one := e.stats(id)
		a, _ := json.Marshal(one)
		b, _ := json.Marshal(many.Stats[id])
		if string(a) != string(b) {
			t.Errorf("%s: one at a time %s, many at once %s", id, a, b)
		}
	}
	ids := make([]string, 501)
	for i := range ids {
		ids[i] = fmt.Sprintf("%q", fmt.Sprint("c-", i))
	}
	for _, body := range []string{`{"ids":[` + strings.Join(ids, ",") + `]}`, `{"ids":[]}`, `{"ids":["a b"]}`, `{"ids":"c-1"}`} {
		if r := e.post("/api/v1/credentials/stats", body); r.status != 400 {
			t.Errorf("%.40s: %d %s", body, r.status, r.body)
		}
	}
}
