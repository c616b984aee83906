package dashboard

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/credstats/credstats/internal/event"
)

// FuzzParseState reads arbitrary query strings as a dashboard address. The
// state it gives is one a page can show, and its own address reads back to
// the same state without notes.
func FuzzParseState(f *testing.F) {
	day := func(s string) time.Time { d, _ := time.Parse(dateLayout, s); return d }
	for _, s := range []State{
		{Range: defaultRange},
		{Range: "7d", Group: "g-1", Credential: "c:1"},
		{Range: customRange, From: day("2026-01-01"), To: day("2026-01-31"), Async: true},
		{Range: "all", Credential: strings.Repeat("x", event.MaxIDLen)},
	} {
		f.Add(s.Values().Encode())
	}
	f.Add("from=2026-01-31&to=2026-01-01")
	f.Add("range=custom&from=2026-13-01&to=x")
	f.Add("range=forever&group=%20g%20&credential=<script>&load=async&load=sync")
	f.Add("range=%zz&from=0000-01-01&to=9999-12-31")
	f.Add("range=" + strings.Repeat("y", 39) + "%C3%A9")

	f.Fuzz(func(t *testing.T, query string) {
		q, _ := url.ParseQuery(query)
		s, notes := ParseState(q)
		// A note quotes what it drops, cut short but still text.
		for _, n := range notes {
			if !utf8.ValidString(n) && utf8.ValidString(q.Get("range")) {
				t.Fatalf("%q: the note %q is not UTF-8", query, n)
			}
		}
		switch {
		case s.Range == customRange:
			if s.To.Before(s.From) {
				t.Fatalf("%q: custom range from %v to %v", query, s.From, s.To)
			}
		case !isPreset(s.Range):
			t.Fatalf("%q: range %q", query, s.Range)
		case !s.From.IsZero() || !s.To.IsZero():
			t.Fatalf("%q: preset %q with days %v to %v", query, s.Range, s.From, s.To)
		}
		for _, id := range []string{s.Group, s.Credential} {
			if id != "" && !event.ValidID(id) {
				t.Fatalf("%q: kept the id %q", query, id)
			}
		}
		again, err := url.ParseQuery(strings.TrimPrefix(s.Query(), "?"))
		if err != nil {
			t.Fatalf("%q: the state's address %q does not parse: %v", query, s.Query(), err)
		}
		if s2, notes := ParseState(again); !reflect.DeepEqual(s2, s) || len(notes) > 0 {
			t.Fatalf("%q: %+v has the address %q, which reads as %+v, %q", query, s, s.Query(), s2, notes)
		}
	})
}
