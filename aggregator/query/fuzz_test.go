package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// FuzzDecodeQuery decodes arbitrary bytes as the body of POST
// /api/v1/query and checks them as a query would be run, without
// ClickHouse. Every refusal is the client's error, naming a field. A query
// that decodes encodes to a query that decodes to the same thing; one that
// passes normalize encodes, as Result.Query does, to one that decodes and
// normalizes to itself, so that a client can send the query back; and
// planning it stays within the engine's bounds.
func FuzzDecodeQuery(f *testing.F) {
	// The queries of the golden answers of the HTTP API, which Result.Query
	// wrote.
	golden, err := filepath.Glob(filepath.Join("..", "testdata", "query_*.json"))
	if err != nil || len(golden) == 0 {
		f.Fatalf("no golden answers: %v", err)
	}
	for _, name := range golden {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var res struct{ Query json.RawMessage }
		if err := json.Unmarshal(b, &res); err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		f.Add([]byte(res.Query), false)
	}
	for _, q := range []Query{
		{Metrics: []string{"views"}},
		{Metrics: metrics, Dimensions: []string{"time:hour", "network"}, DateRange: DateRange{Preset: "24h"}, Timezone: "Asia/Kolkata",
			OrderBy: []Order{{Field: "network", Desc: true}}, Limit: maxLimit, Offset: 3},
		{Metrics: []string{"shares"}, Dimensions: []string{"time:week"}, Timezone: "America/St_Johns",
			DateRange: DateRange{From: time.Date(2025, 10, 26, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)}},
		{Metrics: []string{"events"}, Filters: []Filter{{Op: "is_not", Dimension: "network", Values: []string{""}}, {Op: "contains", Dimension: "referrer", Values: []string{"ö"}}}},
	} {
		b, err := json.Marshal(q)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte(`{"metrics":["views"],"date_range":["2026-01-01","2026-01-31"],"filters":[["is","network",null]]}`), false)
	f.Add([]byte(`{"metrics":["views"],"timezone":1}`), false)

	now := time.Date(2026, 3, 15, 10, 30, 0, 0, time.UTC)
	e := NewEngine(nil, func() time.Time { return now })
	f.Fuzz(func(t *testing.T, body []byte, export bool) {
		q, err := DecodeQuery(body)
		if err != nil {
			clientError(t, "DecodeQuery", err)
			return
		}
		enc := roundTrip(t, q)

		nq, loc, err := normalize(q, export)
		if err != nil {
			clientError(t, "normalize", err)
			return
		}
		again, err := DecodeQuery(roundTrip(t, nq))
		if err != nil {
			t.Fatalf("the normalized %s does not decode: %v", enc, err)
		}
		nq2, loc2, err := normalize(again, export)
		if err != nil {
			t.Fatalf("the normalized %s is refused: %v", enc, err)
		}
		if a, b := roundTrip(t, nq), roundTrip(t, nq2); !bytes.Equal(a, b) || loc.String() != loc2.String() {
			t.Fatalf("normalizing %s again changes it:\n%s\n%s", enc, a, b)
		}

		// Only "all" with a time dimension asks ClickHouse where to start.
		if nq.DateRange.Preset == "all" && slices.ContainsFunc(nq.Dimensions, isTimeDimension) {
			return
		}
		p, err := e.plan(context.Background(), q, export)
		if err != nil {
			clientError(t, "plan", err)
			return
		}
		steps := len(p.buckets) > 0
		if len(p.buckets) > maxBuckets || steps != (p.timeAt >= 0 && p.span.from.Before(p.span.to)) {
			t.Fatalf("%s plans %d steps over %v, time dimension at %d", enc, len(p.buckets), p.span, p.timeAt)
		}
		for _, k := range p.order {
			n := len(p.q.Dimensions)
			if k.metric {
				n = len(p.q.Metrics)
			}
			if k.i < 0 || k.i >= n {
				t.Fatalf("%s sorts by column %+v, which it does not have", enc, k)
			}
		}
	})
}

// roundTrip encodes q and checks that it decodes to a query that encodes
// the same.
func roundTrip(t *testing.T, q Query) []byte {
	t.Helper()
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatalf("cannot encode %+v: %v", q, err)
	}
	q2, err := DecodeQuery(b)
	if err != nil {
		t.Fatalf("%s does not decode: %v", b, err)
	}
	if b2, err := json.Marshal(q2); err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("%s decodes to a query that encodes as %s (%v)", b, b2, err)
	}
	return b
}

// clientError checks that err is the client's to fix (a 400 over HTTP).
func clientError(t *testing.T, what string, err error) {
	t.Helper()
	if e := (*Error)(nil); !errors.As(err, &e) {
		t.Fatalf("%s: %v is not the client's error", what, err)
	}
}
