package aggregator_test

import (
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/credstats/credstats/aggregator"
	"github.com/credstats/credstats/aggregator/internal/rolluptest"
	"github.com/credstats/credstats/internal/auth"
)

// checker validates JSON values against the subset of JSON Schema the
// OpenAPI document uses: $ref, oneOf, type, enum, required, properties,
// additionalProperties, items, prefixItems, minItems, maxItems, minimum.
type checker struct{ doc map[string]any }

func (c checker) check(at string, schema map[string]any, v any) []string {
	if ref, ok := schema["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		s, ok := c.doc["components"].(map[string]any)["schemas"].(map[string]any)[name].(map[string]any)
		if !ok {
			return []string{at + ": unresolved " + ref}
		}
		return c.check(at, s, v)
	}
	if alts, ok := schema["oneOf"].([]any); ok {
		matched := 0
		for _, alt := range alts {
			if len(c.check(at, alt.(map[string]any), v)) == 0 {
				matched++
			}
		}
		if matched != 1 {
			return []string{fmt.Sprintf("%s: %v matches %d of oneOf, want 1", at, v, matched)}
		}
		return nil
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	if typ, ok := schema["type"].(string); ok && !hasType(typ, v) {
		fail("%v is not of type %s", v, typ)
		return errs
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		fail("%v is not one of %v", v, enum)
	}
	if min, ok := schema["minimum"].(float64); ok {
		if n, isNum := v.(float64); isNum && n < min {
			fail("%v is below %v", v, min)
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asSlice(schema["required"]) {
			if _, ok := v[r.(string)]; !ok {
				fail("missing required %q", r)
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if s, ok := props[k].(map[string]any); ok {
				errs = append(errs, c.check(at+"."+k, s, v[k])...)
				continue
			}
			switch extra := schema["additionalProperties"].(type) {
			case map[string]any:
				errs = append(errs, c.check(at+"."+k, extra, v[k])...)
			case bool:
				if !extra {
					fail("unexpected property %q", k)
				}
			}
		}
	case []any:
		if n, ok := schema["minItems"].(float64); ok && float64(len(v)) < n {
			fail("%d items, fewer than %v", len(v), n)
		}
		if n, ok := schema["maxItems"].(float64); ok && float64(len(v)) > n {
			fail("%d items, more than %v", len(v), n)
		}
		prefix := asSlice(schema["prefixItems"])
		for i, item := range v {
			s, _ := schema["items"].(map[string]any)
			if i < len(prefix) {
				s = prefix[i].(map[string]any)
			}
			if s != nil {
				errs = append(errs, c.check(fmt.Sprintf("%s[%d]", at, i), s, item)...)
			}
		}
	}
	return errs
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func hasType(typ string, v any) bool {
	switch v := v.(type) {
	case map[string]any:
		return typ == "object"
	case []any:
		return typ == "array"
	case string:
		return typ == "string"
	case bool:
		return typ == "boolean"
	case float64:
		return typ == "number" || (typ == "integer" && v == math.Trunc(v))
	case nil:
		return typ == "null"
	}
	return false
}

func TestCheckerCatchesMismatches(t *testing.T) {
	var doc map[string]any
	must(t, json.Unmarshal(aggregator.OpenAPI, &doc))
	c := checker{doc}
	stats := map[string]any{"$ref": "#/components/schemas/CredentialStats"}
	for _, bad := range []string{
		`{}`,
		`{"views":1,"unique_viewers":1,"shares":{},"downloads":1,"linkedin_adds":1,"link_copies":1,"verifications":1,"by_actor":{"recipient":{},"guest":{}}}`,
		`[]`,
	} {
		var v any
		must(t, json.Unmarshal([]byte(bad), &v))
		if errs := c.check("$", stats, v); len(errs) == 0 {
			t.Errorf("%s passed as CredentialStats", bad)
		}
	}
	var v any
	must(t, json.Unmarshal([]byte(`{"results":[{"dimensions":[1],"metrics":["x"]}],"total_rows":1.5,"query":{"metrics":["clicks"],"date_range":"week"}}`), &v))
	if errs := c.check("$", map[string]any{"$ref": "#/components/schemas/Result"}, v); len(errs) != 5 {
		t.Errorf("Result check found %d problems, want 5: %v", len(errs), errs)
	}
}

func TestOpenAPIDescribesEveryRouteAndAnswer(t *testing.T) {
	e := newEnv(t, nil)
	rolluptest.Seed(t, e.conn, 300, 7, rolluptest.Now, 10*24*time.Hour)
	stats, _ := e.key(auth.StatsRead)
	ingest, _ := e.key(auth.EventsWrite)
	registry, _ := e.key(auth.RegistryWrite)
	operator, _ := e.key(auth.Operator)

	r := e.get("/api/openapi.json")
	var doc map[string]any
	if r.status != 200 || json.Unmarshal([]byte(r.body), &doc) != nil || doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json: %d %.200s", r.status, r.body)
	}
	paths := doc["paths"].(map[string]any)
	for _, p := range []string{"/api/event", "/api/event.gif", "/v1/credential-interactions", "/awards/{id}/event", "/awards/{id}/stats",
		"/api/v1/credentials/{id}/stats", "/badge/{id}.svg", "/og/{id}.png", "/api/v1/query", "/api/v1/export", "/healthz", "/readyz", "/api/openapi.json",
		"/api/v1/credentials/{id}", "/api/v1/credentials/import", "/api/v1/credentials", "/api/v1/credentials/stats"} {
		if _, ok := paths[p]; !ok {
			t.Errorf("the document lacks %s", p)
		}
	}

	c := checker{doc}
	jsonHeader := map[string]string{"Content-Type": "application/json"}
	withKey := func(token string, extra map[string]string) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	at := rolluptest.Now.Add(-time.Hour).Format(time.RFC3339)
	export := func(q string) string { return "/api/v1/export?query=" + url.QueryEscape(q) }
	seen := map[string]bool{}
	for _, x := range []struct {
		method, template, path, body string
		header                       map[string]string
		status                       int
	}{
		{"POST", "/api/event", "/api/event", `{"credential":"oa","type":"view"}`, map[string]string{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}, 202},
		{"POST", "/api/event", "/api/event", `{"credential":"oa","type":"poke"}`, nil, 400},
		{"OPTIONS", "/api/event", "/api/event", "", nil, 204},
		{"GET", "/api/event.gif", "/api/event.gif?credential=oa&type=download", "", nil, 200},
		{"GET", "/api/event.gif", "/api/event.gif?credential=oa", "", nil, 400},
		{"POST", "/v1/credential-interactions", "/v1/credential-interactions", `{"credentialId":"oa","eventType":"credential_viewed","triggeredBy":"guest","triggeredAt":"` + at + `"}`, withKey(ingest, map[string]string{"Certifier-Version": "2022-10-26"}), 200},
		{"POST", "/v1/credential-interactions", "/v1/credential-interactions", `{}`, withKey(ingest, nil), 400},
		{"POST", "/v1/credential-interactions", "/v1/credential-interactions", `{}`, nil, 401},
		{"POST", "/v1/credential-interactions", "/v1/credential-interactions", `{}`, withKey(stats, map[string]string{"Certifier-Version": "2022-10-26"}), 403},
		{"POST", "/awards/{id}/event", "/awards/oa/event", `{"parameters":{"kind":"share","network":"x"}}`, jsonHeader, 200},
		{"POST", "/awards/{id}/event", "/awards/oa/event", `{"parameters":{}}`, jsonHeader, 400},
		{"GET", "/awards/{id}/stats", "/awards/cred-1/stats", "", nil, 200},
		{"GET", "/awards/{id}/stats", "/awards/a%20b/stats", "", nil, 400},
		{"GET", "/api/v1/credentials/{id}/stats", "/api/v1/credentials/cred-2/stats", "", nil, 200},
		{"GET", "/api/v1/credentials/{id}/stats", "/api/v1/credentials/a%20b/stats", "", nil, 400},
		{"GET", "/badge/{id}.svg", "/badge/cred-2.svg", "", nil, 200},
		{"GET", "/badge/{id}.svg", "/badge/cred-2.gif", "", nil, 404},
		{"GET", "/og/{id}.png", "/og/cred-2.png", "", map[string]string{"User-Agent": "Twitterbot/1.0"}, 200},
		{"GET", "/og/{id}.png", "/og/cred-2.gif", "", nil, 404},
		{"POST", "/api/v1/query", "/api/v1/query", `{"metrics":["views","share_rate"],"dimensions":["time:day","network"],"filters":[["is","actor",["guest"]]],"date_range":["2026-03-01","2026-03-15"],"order_by":[["views","desc"]]}`, withKey(stats, nil), 200},
		{"POST", "/api/v1/query", "/api/v1/query", `{"metrics":["events"]}`, withKey(stats, nil), 200},
		{"POST", "/api/v1/query", "/api/v1/query", `{"metrics":["events"],"dimensions":["time:hour"],"date_range":"today","timezone":"Asia/Kathmandu"}`, withKey(stats, nil), 200},
		{"POST", "/api/v1/query", "/api/v1/query", `{"metrics":[]}`, withKey(stats, nil), 400},
		{"POST", "/api/v1/query", "/api/v1/query", `{"metrics":["views"]}`, nil, 401},
		{"POST", "/api/v1/query", "/api/v1/query", `{"metrics":["views"]}`, withKey(ingest, nil), 403},
		{"GET", "/api/v1/export", export(`{"metrics":["views"],"dimensions":["country"]}`), "", withKey(stats, nil), 200},
		{"GET", "/api/v1/export", export(`{"metrics":["views"],"dimensions":["country"]}`) + "&format=ndjson", "", withKey(stats, nil), 200},
		{"GET", "/api/v1/export", export(`{"metrics":["views"],"dimensions":["country"]}`) + "&format=xml", "", withKey(stats, nil), 400},
		{"GET", "/api/v1/export", export(`{"metrics":["views"]}`), "", nil, 401},
		{"GET", "/api/v1/export", export(`{"metrics":["views"]}`), "", withKey(ingest, nil), 403},
		{"PUT", "/api/v1/credentials/{id}", "/api/v1/credentials/cred-1", `{"name":"Data Science","group":"prog-a","issued_at":"2026-01-05T10:00:00Z"}`, withKey(registry, nil), 200},
		{"PUT", "/api/v1/credentials/{id}", "/api/v1/credentials/cred-1", `{"status":"lost"}`, withKey(registry, nil), 400},
		{"PUT", "/api/v1/credentials/{id}", "/api/v1/credentials/cred-1", `{}`, withKey(stats, nil), 403},
		{"POST", "/api/v1/credentials/import", "/api/v1/credentials/import", `{"id":"cred-2","name":"Cloud"}` + "\n" + `{"id":"cred-3"}`, withKey(registry, nil), 200},
		{"POST", "/api/v1/credentials/import", "/api/v1/credentials/import", `{"id":"cred-2","nam":"Cloud"}`, withKey(registry, nil), 400},
		{"GET", "/api/v1/credentials", "/api/v1/credentials?sort-field=name&page-size=2", "", withKey(stats, nil), 200},
		{"GET", "/api/v1/credentials", "/api/v1/credentials?page-size=500", "", withKey(stats, nil), 400},
		{"GET", "/api/v1/credentials", "/api/v1/credentials", "", nil, 401},
		{"POST", "/api/v1/credentials/stats", "/api/v1/credentials/stats", `{"ids":["cred-1","cred-2","nobody"]}`, jsonHeader, 200},
		{"POST", "/api/v1/credentials/stats", "/api/v1/credentials/stats", `{"ids":[]}`, jsonHeader, 400},
		{"POST", "/api/v1/admin/orgs", "/api/v1/admin/orgs", `{"name":"Acme Academy","hosts":["certs.acme.test"]}`, withKey(operator, nil), 201},
		{"POST", "/api/v1/admin/orgs", "/api/v1/admin/orgs", `{"name":"Copy","hosts":["certs.acme.test"]}`, withKey(operator, nil), 400},
		{"GET", "/api/v1/admin/orgs", "/api/v1/admin/orgs", "", withKey(operator, nil), 200},
		{"GET", "/api/v1/admin/orgs", "/api/v1/admin/orgs", "", withKey(stats, nil), 403},
		{"PATCH", "/api/v1/admin/orgs/{id}", "/api/v1/admin/orgs/acme-academy", `{"name":"Acme"}`, withKey(operator, nil), 200},
		{"PATCH", "/api/v1/admin/orgs/{id}", "/api/v1/admin/orgs/nobody", `{"name":"Acme"}`, withKey(operator, nil), 404},
		{"DELETE", "/api/v1/admin/orgs/{id}", "/api/v1/admin/orgs/acme-academy", "", withKey(operator, nil), 200},
		{"GET", "/api/openapi.json", "/api/openapi.json", "", nil, 200},
		{"GET", "/healthz", "/healthz", "", nil, 200},
		{"GET", "/readyz", "/readyz", "", nil, 200},
		{"GET", "/metrics", "/metrics", "", nil, 200},
		{"GET", "/beacon.js", "/beacon.js", "", nil, 200},
		{"GET", "/demo", "/demo", "", nil, 200},
		{"GET", "/demo/{credential}", "/demo/a%20b", "", nil, 400},
	} {
		name := x.method + " " + x.path
		r := e.do(x.method, x.path, x.body, x.header)
		if r.status != x.status {
			t.Errorf("%s: %d %.300s, want %d", name, r.status, r.body, x.status)
			continue
		}
		seen[x.template] = true
		op, ok := paths[x.template].(map[string]any)[strings.ToLower(x.method)].(map[string]any)
		if !ok {
			t.Errorf("%s: the document has no %s %s", name, x.method, x.template)
			continue
		}
		resp, ok := op["responses"].(map[string]any)[fmt.Sprint(r.status)].(map[string]any)
		if !ok {
			t.Errorf("%s: the document has no %d answer", name, r.status)
			continue
		}
		content, _ := resp["content"].(map[string]any)
		if len(content) == 0 {
			if r.body != "" && r.status != 202 {
				t.Errorf("%s: answered a body the document does not describe: %.100s", name, r.body)
			}
			continue
		}
		mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
		media, ok := content[mt].(map[string]any)
		if !ok {
			t.Errorf("%s: Content-Type %s is not among %v", name, mt, content)
			continue
		}
		if mt != "application/json" {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(r.body), &v); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, err := range c.check("$", media["schema"].(map[string]any), v) {
			t.Errorf("%s: %s", name, err)
		}
	}
	for p := range paths {
		if !seen[p] && p != "/beacon.{version}.js" {
			t.Errorf("no request checked %s", p)
		}
	}
}
