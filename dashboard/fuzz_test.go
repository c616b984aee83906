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

// FuzzParseSession checks the session cookie both ways. A session signed
// for a key ID the cookie can carry parses back to itself until it expires;
// any other cookie value parses only if it is exactly what signSession
// makes of the session it parses to, so that a client can neither forge
// nor rewrite one.
func FuzzParseSession(f *testing.F) {
	secret := []byte(strings.Repeat("s", 32))
	now := time.Unix(1_800_000_000, 0)
	for _, s := range []session{
		{KeyID: "0123456789abcdef", Expires: now.Add(time.Hour)},
		{KeyID: "fedcba9876543210", Expires: now.Add(30 * 24 * time.Hour)},
		{KeyID: "k", Expires: now.Add(time.Second)},
	} {
		f.Add(signSession(secret, s), s.KeyID, s.Expires.Unix())
	}
	// The same signature spelled otherwise: unused bits set in its last
	// character, which a lax base64 decoder ignores.
	signed := signSession(secret, session{KeyID: "0123456789abcdef", Expires: now.Add(time.Hour)})
	last := strings.IndexByte(b64Alphabet, signed[len(signed)-1])
	f.Add(signed[:len(signed)-1]+b64Alphabet[last+1:last+2], "0123456789abcdef", int64(0))
	f.Add("a.b.c", "a.b", int64(-1))
	f.Add("", "", int64(0))

	f.Fuzz(func(t *testing.T, cookie, keyID string, expires int64) {
		if got, err := parseSession(secret, cookie, now); err == nil {
			if want := signSession(secret, got); cookie != want {
				t.Fatalf("accepted %q, which is not %q as signed", cookie, want)
			}
			if !now.Before(got.Expires) {
				t.Fatalf("accepted %q, expired at %v", cookie, got.Expires)
			}
		}

		s := session{KeyID: keyID, Expires: time.Unix(expires, 0)}
		signed := signSession(secret, s)
		before := s.Expires.Add(-time.Second)
		got, err := parseSession(secret, signed, before)
		if keyID == "" || strings.Contains(keyID, ".") {
			if err == nil {
				t.Fatalf("a session for key %q parsed as %+v", keyID, got)
			}
		} else if err != nil || got.KeyID != s.KeyID || !got.Expires.Equal(s.Expires) {
			t.Fatalf("parseSession(signSession(%+v)) = %+v, %v", s, got, err)
		}
		if _, err := parseSession(secret, signed, s.Expires); err == nil {
			t.Fatalf("%q parsed at its expiry", signed)
		}
		if _, err := parseSession([]byte(strings.Repeat("t", 32)), signed, before); err == nil {
			t.Fatalf("%q parsed under another secret", signed)
		}
	})
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

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
