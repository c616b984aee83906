package server_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/credstats/credstats/internal/auth"
)

// TestOperatorErase: the erasure route takes only an operator key and a
// valid body, answers in the envelope otherwise, and afterwards no
// counter, badge, query or export shows the credential, even for events
// accepted just before it and counters cached just before it.
func TestOperatorErase(t *testing.T) {
	e := newEnv(t, nil)
	const gone, kept = "cred-gone", "cred-kept"
	for _, body := range []string{
		`{"credential":"` + gone + `","type":"view","group":"g"}`,
		`{"credential":"` + gone + `","type":"share","network":"linkedin","group":"g"}`,
		`{"credential":"` + kept + `","type":"view","group":"g"}`,
	} {
		if r := e.post("/api/event", body); r.status != 202 {
			t.Fatalf("%s: %d %s", body, r.status, r.body)
		}
	}
	if st := e.stats(gone); st["views"] != float64(1) {
		t.Fatalf("before: %v", st)
	}
	// One more view, accepted and perhaps not yet written when the erasure starts.
	if r := e.post("/api/event", `{"credential":"`+gone+`","type":"download"}`); r.status != 202 {
		t.Fatal(r.body)
	}

	operator, _ := e.createKey(auth.Operator)
	reader, _ := e.createKey(auth.StatsRead)
	erase := func(key, body string) response {
		h := map[string]string{}
		if key != "" {
			h["Authorization"] = "Bearer " + key
		}
		return e.do(request{method: "POST", path: "/api/v1/admin/erase", body: body, header: h})
	}
	body := `{"credential":"` + gone + `"}`
	for _, c := range []struct {
		key, body, code string
		status          int
	}{
		{"", body, "unauthorized", 401},
		{reader, body, "forbidden", 403},
		{operator, `{"credential": "not valid!"}`, "invalid_request", 400},
		{operator, `{"credential": 7}`, "invalid_request", 400},
		{operator, `[`, "invalid_request", 400},
		{operator, ``, "invalid_request", 400},
	} {
		if r := erase(c.key, c.body); r.status != c.status || r.errorCode() != c.code {
			t.Errorf("%q with key %v: %d %s, want %d %s", c.body, c.key != "", r.status, r.body, c.status, c.code)
		}
	}

	r := erase(operator, body)
	if r.status != 200 {
		t.Fatalf("erase: %d %s", r.status, r.body)
	}
	var rep struct {
		Removed map[string]uint64 `json:"removed"`
	}
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil || rep.Removed["events"] != 3 {
		t.Errorf("report %s (%v), want 3 events removed", r.body, err)
	}
	if n := e.count("credential = ?", gone); n != 0 {
		t.Errorf("%d events of the erased credential", n)
	}
	if st := e.stats(gone); st["views"] != float64(0) || st["downloads"] != float64(0) {
		t.Errorf("counters after the erasure: %v", st)
	}
	if st := e.stats(kept); st["views"] != float64(1) {
		t.Errorf("the other credential's counters: %v", st)
	}
	if b := e.do(request{method: "GET", path: "/badge/" + gone + ".svg"}); b.status != 200 || strings.Contains(b.body, "viewed 1") {
		t.Errorf("badge: %d %s", b.status, b.body)
	}
	bearer := map[string]string{"Authorization": "Bearer " + reader}
	q := `{"metrics": ["events"], "dimensions": ["credential"], "date_range": "all"}`
	if r := e.do(request{method: "POST", path: "/api/v1/query", body: q, header: bearer}); r.status != 200 || strings.Contains(r.body, gone) || !strings.Contains(r.body, kept) {
		t.Errorf("query: %d %s", r.status, r.body)
	}
	if r := e.do(request{method: "GET", path: "/api/v1/export?format=ndjson&query=" + url.QueryEscape(q), header: bearer}); r.status != 200 || strings.Contains(r.body, gone) || !strings.Contains(r.body, kept) {
		t.Errorf("export: %d %s", r.status, r.body)
	}
	if again := erase(operator, body); again.status != 200 || !strings.Contains(again.body, `"events":0`) {
		t.Errorf("a second erasure: %d %s", again.status, again.body)
	}
	m := e.do(request{method: "GET", path: "/metrics"})
	for _, want := range []string{"credstats_retention_months 0", `credstats_erasures_total{outcome="done"} 2`, "credstats_raw_events_since_timestamp_seconds"} {
		if !strings.Contains(m.body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
