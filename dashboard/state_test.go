package dashboard

import (
	"net/url"
	"reflect"
	"testing"
	"time"
)

func TestParseState(t *testing.T) {
	f := func(query string, want State, wantNotes int) {
		t.Helper()
		q, _ := url.ParseQuery(query)
		got, notes := ParseState(q)
		if !reflect.DeepEqual(got, want) || len(notes) != wantNotes {
			t.Errorf("ParseState(%q) = %+v, %q; want %+v with %d notes", query, got, notes, want, wantNotes)
		}
		// What a state encodes, it reads back.
		again, _ := ParseState(got.Values())
		if !reflect.DeepEqual(again, got) {
			t.Errorf("ParseState(%q).Values() reads back as %+v", query, again)
		}
	}
	day := func(s string) time.Time { d, _ := time.Parse(dateLayout, s); return d }
	f("", State{Range: "30d"}, 0)
	f("range=7d&group=g-1&credential=c:1", State{Range: "7d", Group: "g-1", Credential: "c:1"}, 0)
	f("range=custom&from=2026-01-01&to=2026-01-31", State{Range: "custom", From: day("2026-01-01"), To: day("2026-01-31")}, 0)
	f("from=2026-01-31&to=2026-01-01", State{Range: "custom", From: day("2026-01-01"), To: day("2026-01-31")}, 0)
	f("range=custom&from=2026-13-01&to=x", State{Range: "30d"}, 1)
	f("range=forever", State{Range: "30d"}, 1)
	f("group=<script>&credential=ok", State{Range: "30d", Credential: "ok"}, 1)
	f("range=all&load=async", State{Range: "all", Async: true}, 0)
}
