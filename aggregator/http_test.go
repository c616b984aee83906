package aggregator_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/credstats/credstats/aggregator/internal/rolluptest"
	"github.com/credstats/credstats/cmd/credstats/server"
	"github.com/credstats/credstats/internal/auth"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestQueryAndExportNeedAStatsKey(t *testing.T) {
	e := newEnv(t, nil)
	valid, _ := e.key(auth.StatsRead)
	wrongScope, _ := e.key(auth.EventsWrite, auth.Dashboard)
	revoked, revokedID := e.key(auth.StatsRead)
	must(t, auth.NewKeys(e.conn, 0).Revoke(context.Background(), revokedID))
	const body = `{"metrics":["views"]}`
	exportPath := "/api/v1/export?query=" + url.QueryEscape(body)
	for _, c := range []struct {
		name   string
		header map[string]string
		status int
		code   string
	}{
		{"no key", nil, 401, "unauthorized"},
		{"not bearer", map[string]string{"Authorization": "Basic " + valid}, 401, "unauthorized"},
		{"garbage key", bearer("hello"), 401, "unauthorized"},
		{"unknown key", bearer("csk_0123456789abcdef_" + strings.Repeat("0", 48)), 401, "unauthorized"},
		{"tampered key", bearer(valid[:len(valid)-1] + "x"), 401, "unauthorized"},
		{"revoked key", bearer(revoked), 401, "unauthorized"},
		{"wrong scope", bearer(wrongScope), 403, "forbidden"},
		{"valid", bearer(valid), 200, ""},
	} {
		q := e.do("POST", "/api/v1/query", body, c.header)
		x := e.do("GET", exportPath, "", c.header)
		for route, r := range map[string]response{"query": q, "export": x} {
			if r.status != c.status || errorCode(r.body) != c.code {
				t.Errorf("%s, %s: %d %s; want %d %s", route, c.name, r.status, r.body, c.status, c.code)
			}
		}
	}
}

func TestQueryValidation(t *testing.T) {
	e := newEnv(t, nil)
	token, _ := e.key(auth.StatsRead)
	for _, c := range []struct{ body, field string }{
		{`{`, "body"},
		{`[]`, "body"},
		{`{"metrics":["views"]} {"metrics":["views"]}`, "body"},
		{`{"metrics":["views"],"metric":"views"}`, "metric"},
		{`{}`, "metrics"},
		{`{"metrics":[]}`, "metrics"},
		{`{"metrics":"views"}`, "metrics"},
		{`{"metrics":["clicks"]}`, "metrics"},
		{`{"metrics":["views","views"]}`, "metrics"},
		{`{"metrics":["views"],"dimensions":["city"]}`, "dimensions"},
		{`{"metrics":["views"],"dimensions":"network"}`, "dimensions"},
		{`{"metrics":["views"],"dimensions":["network","network"]}`, "dimensions"},
		{`{"metrics":["views"],"dimensions":["time:day","time:hour"]}`, "dimensions"},
		{`{"metrics":["views"],"dimensions":["time:hour"],"date_range":["2000-01-01","2100-12-31"]}`, "dimensions"},
		{`{"metrics":["views"],"filters":[["is","network"]]}`, "filters"},
		{`{"metrics":["views"],"filters":{"network":"linkedin"}}`, "filters"},
		{`{"metrics":["views"],"filters":[["like","network",["x"]]]}`, "filters[0]"},
		{`{"metrics":["views"],"filters":[["is","actor",["guest"]],["is","city",["x"]]]}`, "filters[1]"},
		{`{"metrics":["views"],"filters":[["is","time:day",["2026-01-01"]]]}`, "filters[0]"},
		{`{"metrics":["views"],"filters":[["is","network",[]]]}`, "filters[0]"},
		{`{"metrics":["views"],"filters":[["is","network",["myspace"]]]}`, "filters[0]"},
		{`{"metrics":["views"],"filters":[["is_not","type",["click"]]]}`, "filters[0]"},
		{`{"metrics":["views"],"filters":[["contains","credential",[""]]]}`, "filters[0]"},
		{`{"metrics":["views"],"date_range":"yesterday"}`, "date_range"},
		{`{"metrics":["views"],"date_range":7}`, "date_range"},
		{`{"metrics":["views"],"date_range":["2026-01-01"]}`, "date_range"},
		{`{"metrics":["views"],"date_range":["2026-1-1","2026-01-31"]}`, "date_range"},
		{`{"metrics":["views"],"date_range":["2026-02-01","2026-01-01"]}`, "date_range"},
		{`{"metrics":["views"],"date_range":["1999-12-31","2026-01-31"]}`, "date_range"},
		{`{"metrics":["views"],"timezone":"Mars/Olympus_Mons"}`, "timezone"},
		{`{"metrics":["views"],"timezone":"Local"}`, "timezone"},
		{`{"metrics":["views"],"timezone":1}`, "timezone"},
		{`{"metrics":["views"],"order_by":[["shares","desc"]]}`, "order_by[0]"},
		{`{"metrics":["views"],"order_by":[["views","down"]]}`, "order_by"},
		{`{"metrics":["views"],"order_by":[["views","asc"],["views","desc"]]}`, "order_by[1]"},
		{`{"metrics":["views"],"limit":10001}`, "limit"},
		{`{"metrics":["views"],"limit":-1}`, "limit"},
		{`{"metrics":["views"],"limit":"ten"}`, "limit"},
		{`{"metrics":["views"],"limit":1.5}`, "limit"},
		{`{"metrics":["views"],"offset":-5}`, "offset"},
	} {
		r := e.query(token, c.body)
		var env struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.Unmarshal([]byte(r.body), &env)
		if r.status != 400 || env.Error.Code != "invalid_request" || !strings.HasPrefix(env.Error.Message, c.field+":") {
			t.Errorf("%s: %d %s; want 400 invalid_request naming %s", c.body, r.status, r.body, c.field)
		}
	}
	for _, c := range []struct{ query, field string }{
		{"", "query"},
		{"query=" + url.QueryEscape(`{"metrics":["views"]}`) + "&format=xlsx", "format"},
		{"query=" + url.QueryEscape(`{"metrics":["views"`), "body"},
		{"query=" + url.QueryEscape(`{"metrics":["views"],"dimensions":["city"]}`), "dimensions"},
	} {
		r := e.do("GET", "/api/v1/export?"+c.query, "", bearer(token))
		if r.status != 400 || errorCode(r.body) != "invalid_request" || !strings.Contains(r.body, `"message":"`+c.field+":") {
			t.Errorf("export %s: %d %s; want 400 naming %s", c.query, r.status, r.body, c.field)
		}
	}
}

// golden compares got (JSON) with testdata/name.json, rewriting it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("%s: not JSON: %s", name, got)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		must(t, os.WriteFile(path, buf.Bytes(), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./aggregator -run Golden -update to write it)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("%s differs from %s (go test ./aggregator -run Golden -update rewrites it):\n%s", name, path, buf.String())
	}
}

func TestGoldenAnswers(t *testing.T) {
	e := newEnv(t, nil)
	rolluptest.Seed(t, e.conn, 800, 3, rolluptest.Now, 40*24*time.Hour)
	token, _ := e.key(auth.StatsRead)
	for _, c := range []struct{ name, body string }{
		{"totals_30d", `{"metrics":["events","views","unique_viewers","shares","downloads","verifications","linkedin_adds","link_copies","share_rate"]}`},
		{"daily_7d_berlin", `{"metrics":["views","unique_viewers","shares","share_rate"],"dimensions":["time:day"],"date_range":"7d","timezone":"Europe/Berlin"}`},
		{"hourly_24h_kolkata", `{"metrics":["events"],"dimensions":["time:hour"],"date_range":"24h","timezone":"Asia/Kolkata"}`},
		{"top_networks", `{"metrics":["shares","unique_viewers"],"dimensions":["network"],"filters":[["is","type",["share"]]],"date_range":"30d","order_by":[["shares","desc"]],"limit":5}`},
		{"credentials_by_actor_february", `{"metrics":["views","shares","downloads"],"dimensions":["credential","actor"],"filters":[["is","credential",["cred-1","cred-2"]]],"date_range":["2026-02-01","2026-02-28"]}`},
		{"weekly_by_country_page_2", `{"metrics":["views"],"dimensions":["time:week","country"],"filters":[["is_not","country",[""]]],"date_range":"month","limit":4,"offset":4}`},
		{"best_days_by_shares", `{"metrics":["shares","views"],"dimensions":["time:day"],"date_range":"7d","order_by":[["shares","desc"]],"limit":3}`},
		{"referrers_contains", `{"metrics":["views","unique_viewers"],"dimensions":["referrer","source"],"filters":[["contains","referrer",["linkedin","google"]],["is","device",["desktop","mobile"]]],"date_range":"all"}`},
		{"monthly_12mo_by_group", `{"metrics":["events","share_rate"],"dimensions":["group","time:month"],"date_range":"12mo","timezone":"America/New_York","order_by":[["group","asc"]]}`},
		{"empty_series", `{"metrics":["views"],"dimensions":["time:day"],"filters":[["is","credential",["nobody"]]],"date_range":"7d"}`},
	} {
		r := e.query(token, c.body)
		if r.status != 200 {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
			continue
		}
		golden(t, "query_"+c.name, []byte(r.body))
	}
	for name, path := range map[string]string{
		"credential_stats": "/api/v1/credentials/cred-1/stats",
		"award_stats":      "/awards/cred-1/stats",
		"unknown_stats":    "/api/v1/credentials/nobody/stats",
	} {
		r := e.get(path)
		if r.status != 200 {
			t.Errorf("%s: %d %s", path, r.status, r.body)
			continue
		}
		golden(t, name, []byte(r.body))
	}
}

func TestExportStreamsTheQueryResult(t *testing.T) {
	e := newEnv(t, nil)
	rolluptest.Seed(t, e.conn, 3000, 4, rolluptest.Now, 60*24*time.Hour)
	token, _ := e.key(auth.StatsRead)
	for _, body := range []string{
		`{"metrics":["views","share_rate"],"dimensions":["credential","country","browser"],"date_range":"all"}`,
		`{"metrics":["views","unique_viewers"],"dimensions":["time:day","network"],"date_range":"30d","timezone":"Asia/Kathmandu"}`,
		`{"metrics":["views","unique_viewers"],"dimensions":["time:day","network"],"date_range":"30d","order_by":[["views","desc"]],"limit":50,"offset":3}`,
		`{"metrics":["events"]}`,
	} {
		// The query API pages; the export has every row unless limited.
		var q map[string]any
		must(t, json.Unmarshal([]byte(body), &q))
		_, limited := q["limit"]
		var all [][]string
		total := 0
		for offset := 0; ; offset += 100 {
			if !limited {
				q["offset"] = offset
			}
			b, _ := json.Marshal(q)
			r := e.query(token, string(b))
			var res struct {
				Results []struct {
					Dimensions []string
					Metrics    []float64
				}
				TotalRows int `json:"total_rows"`
			}
			must(t, json.Unmarshal([]byte(r.body), &res))
			total = res.TotalRows
			for _, row := range res.Results {
				rec := append([]string{}, row.Dimensions...)
				for _, m := range row.Metrics {
					rec = append(rec, strconv.FormatFloat(m, 'f', -1, 64))
				}
				all = append(all, rec)
			}
			if limited || len(res.Results) < 100 {
				break
			}
		}
		if !limited && (len(all) != total || total == 0) {
			t.Fatalf("%s: paged %d rows, total_rows %d", body, len(all), total)
		}

		r := e.do("GET", "/api/v1/export?format=csv&query="+url.QueryEscape(body), "", bearer(token))
		if r.status != 200 || r.header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("csv: %d %v %s", r.status, r.header, r.body)
		}
		recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
		must(t, err)
		var names struct{ Dimensions, Metrics []string }
		json.Unmarshal([]byte(body), &names)
		columns := append(names.Dimensions, names.Metrics...)
		if strings.Join(recs[0], ",") != strings.Join(columns, ",") {
			t.Errorf("csv header %v", recs[0])
		}
		if got, want := csvText(recs[1:]), csvText(all); got != want {
			t.Errorf("%s: csv export differs from the query API:\n%.2000s\nwant\n%.2000s", body, got, want)
		}

		r = e.do("GET", "/api/v1/export?format=ndjson&query="+url.QueryEscape(body), "", bearer(token))
		if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("ndjson: %d %v", r.status, r.header)
		}
		lines := strings.Split(strings.TrimSuffix(r.body, "\n"), "\n")
		if len(lines) != len(all) {
			t.Fatalf("ndjson: %d lines, want %d", len(lines), len(all))
		}
		for i, line := range lines {
			dec := json.NewDecoder(strings.NewReader(line))
			dec.UseNumber()
			var obj map[string]any
			must(t, dec.Decode(&obj))
			for j, name := range columns {
				if got := strings.Trim(jsonText(obj[name]), `"`); got != all[i][j] {
					t.Fatalf("ndjson line %d: %s is %s, want %s (%s)", i, name, got, all[i][j], line)
				}
			}
		}
	}
	// A large export arrives in chunks, not as one buffered body.
	req, _ := http.NewRequest("GET", e.url+"/api/v1/export?query="+url.QueryEscape(`{"metrics":["views"],"dimensions":["time:hour","credential"],"date_range":"30d"}`), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n < 64<<10 || resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("export of %d bytes has Content-Length %d, Transfer-Encoding %v; want it streamed", n, resp.ContentLength, resp.TransferEncoding)
	}
}

func csvText(recs [][]string) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(strings.Join(r, ","))
		b.WriteByte('\n')
	}
	return b.String()
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestBadge(t *testing.T) {
	e := newEnv(t, nil)
	rolluptest.Seed(t, e.conn, 300, 5, rolluptest.Now, 10*24*time.Hour)
	st := e.get("/api/v1/credentials/cred.8/stats")
	var counts struct {
		Views  int
		Shares map[string]int
	}
	must(t, json.Unmarshal([]byte(st.body), &counts))
	shares := 0
	for _, n := range counts.Shares {
		shares += n
	}
	r := e.get("/badge/cred.8.svg?label=" + url.QueryEscape(`<script>"&'`))
	if r.status != 200 || r.header.Get("Content-Type") != "image/svg+xml; charset=utf-8" || r.header.Get("ETag") == "" ||
		!strings.HasPrefix(r.header.Get("Cache-Control"), "public, max-age=") {
		t.Fatalf("badge: %d %v %s", r.status, r.header, r.body)
	}
	var svg struct {
		XMLName xml.Name
		Title   string   `xml:"title"`
		Texts   []string `xml:"g>text"`
	}
	if err := xml.Unmarshal([]byte(r.body), &svg); err != nil || svg.XMLName.Local != "svg" {
		t.Fatalf("badge is not SVG: %v\n%s", err, r.body)
	}
	message := "viewed " + strconv.Itoa(counts.Views) + " · shared " + strconv.Itoa(shares)
	if svg.Title != `<script>"&': `+message || !strings.Contains(strings.Join(svg.Texts, "|"), message) {
		t.Errorf("badge says %q %v, want %q", svg.Title, svg.Texts, message)
	}
	if strings.Contains(r.body, "<script") {
		t.Errorf("label not escaped: %s", r.body)
	}
	if r2 := e.do("GET", "/badge/cred.8.svg?label="+url.QueryEscape(`<script>"&'`), "", map[string]string{"If-None-Match": r.header.Get("ETag")}); r2.status != 304 {
		t.Errorf("If-None-Match: %d", r2.status)
	}
	for path, status := range map[string]int{
		"/badge/nobody.svg":   200,
		"/badge/cred.8.png":   404,
		"/badge/bad%20id.svg": 400,
		"/badge/cred.8.svg?label=" + strings.Repeat("x", 65): 400,
	} {
		if r := e.get(path); r.status != status {
			t.Errorf("%s: %d %s; want %d", path, r.status, r.body, status)
		}
	}
	if r := e.get("/badge/nobody.svg"); !strings.Contains(r.body, "viewed 0 · shared 0") {
		t.Errorf("unknown credential: %s", r.body)
	}
}

func TestCountersAnswerFromCacheWhileClickHouseIsDown(t *testing.T) {
	const fresh, stale = 300 * time.Millisecond, 3 * time.Second
	dsn, conn := newDatabase(t)
	p := newProxy(t, strings.TrimPrefix(strings.TrimSuffix(dsn[:strings.LastIndex(dsn, "/")], "/"), "clickhouse://"))
	e := startEnv(t, "clickhouse://"+p.addr+dsn[strings.LastIndex(dsn, "/"):], conn, func(o *server.Options) {
		o.StatsCacheTTL, o.StatsStaleFor = fresh, stale
	})
	rolluptest.Seed(t, conn, 200, 6, rolluptest.Now, 5*24*time.Hour)
	first := e.get("/api/v1/credentials/cred-1/stats")
	if first.status != 200 || !strings.Contains(first.body, `"views"`) {
		t.Fatalf("before: %d %s", first.status, first.body)
	}
	badge := e.get("/badge/cred-1.svg")
	downAt := time.Now()
	p.down()

	time.Sleep(fresh + 100*time.Millisecond)
	for _, path := range []string{"/api/v1/credentials/cred-1/stats", "/awards/cred-1/stats", "/badge/cred-1.svg"} {
		r := e.get(path)
		if r.status != 200 {
			t.Fatalf("%s while ClickHouse is down: %d %s", path, r.status, r.body)
		}
		if path == "/badge/cred-1.svg" && r.body != badge.body {
			t.Errorf("badge changed while ClickHouse was down")
		}
	}
	if r := e.get("/api/v1/credentials/cred-1/stats"); r.body != first.body || r.header.Get("Age") == "" {
		t.Errorf("stale answer %s (Age %q), want %s", r.body, r.header.Get("Age"), first.body)
	}
	if r := e.get("/api/v1/credentials/cred-2/stats"); r.status != 503 || errorCode(r.body) != "unavailable" {
		t.Errorf("never cached, ClickHouse down: %d %s", r.status, r.body)
	}
	if r := e.get("/awards/cred-2/stats"); r.status != 503 || !strings.Contains(r.body, `"error":"`) {
		t.Errorf("badges.ninja, never cached, ClickHouse down: %d %s", r.status, r.body)
	}

	// Past the staleness bound the cache no longer answers.
	time.Sleep(time.Until(downAt.Add(stale + 200*time.Millisecond)))
	if r := e.get("/api/v1/credentials/cred-1/stats"); r.status != 503 {
		t.Errorf("past the bound: %d %s", r.status, r.body)
	}

	p.up()
	// New events show once ClickHouse is back.
	addViews(t, conn, "cred-1", 3)
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := e.get("/api/v1/credentials/cred-1/stats")
		if r.status == 200 && r.body != first.body {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: %d %s", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
