package aggregator_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/credstats/credstats/aggregator/internal/rolluptest"
	"github.com/credstats/credstats/internal/auth"
)

// formulas are values an anonymous client can send that a spreadsheet
// would run, each with the cell a CSV export must hold for it.
var formulas = map[string]string{
	"=cmd.example":  "'=cmd.example",
	"-2+3":          "'-2+3",
	"+1":            "'+1",
	"@SUM(1)":       "'@SUM(1)",
	"\tx":           "'\tx",
	"\rx":           "'\rx",
	"plain.example": "plain.example",
	"a=b":           "a=b",
}

// TestCSVExportHoldsNoFormulas: values from clients that start like a
// formula are quoted in CSV, the numbers beside them are left alone, and
// NDJSON has them as they are.
func TestCSVExportHoldsNoFormulas(t *testing.T) {
	e := newEnv(t, nil)
	b, err := e.conn.PrepareBatch(context.Background(), rolluptest.InsertEvents)
	must(t, err)
	for v := range formulas {
		must(t, b.Append(uuid.New(), rolluptest.Now.Add(-time.Hour), "cred-1", v, "view", "", "guest", "beacon", uint64(1),
			"", "", v, "", "", "Chrome", "Linux", "desktop", ""))
	}
	must(t, b.Send())
	rolluptest.Wait(t, e.conn)
	token, _ := e.key(auth.StatsRead)
	query := url.QueryEscape(`{"metrics":["views","share_rate"],"dimensions":["referrer","group"],"date_range":"7d"}`)

	r := e.do("GET", "/api/v1/export?format=csv&query="+query, "", bearer(token))
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if r.status != 200 || err != nil || len(recs) != 1+len(formulas) {
		t.Fatalf("csv: %d, %d records, %v:\n%s", r.status, len(recs), err, r.body)
	}
	want := map[string]bool{}
	for _, cell := range formulas {
		want[cell+","+cell] = true
	}
	for _, rec := range recs[1:] {
		if !want[rec[0]+","+rec[1]] {
			t.Errorf("csv row %q: dimensions not among %q", rec, formulas)
		}
		for _, m := range rec[2:] {
			if _, err := strconv.ParseFloat(m, 64); err != nil {
				t.Errorf("csv row %q: metric %q is not a number", rec, m)
			}
		}
	}

	r = e.do("GET", "/api/v1/export?format=ndjson&query="+query, "", bearer(token))
	for line := range strings.Lines(r.body) {
		var row map[string]any
		must(t, json.Unmarshal([]byte(line), &row))
		if _, ok := formulas[row["referrer"].(string)]; !ok {
			t.Errorf("ndjson row %s: referrer not among %q", line, formulas)
		}
	}
}
