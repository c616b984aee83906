package auth

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// FuzzParseSession checks the session cookie both ways. A session signed
// for a key ID the cookie can carry parses back to itself until it expires;
// any other cookie value parses only if it is exactly what SignSession
// makes of the session it parses to, so that a client can neither forge
// nor rewrite one.
func FuzzParseSession(f *testing.F) {
	secret := []byte(strings.Repeat("s", 32))
	now := time.Unix(1_800_000_000, 0)
	for _, s := range []Session{
		{KeyID: "0123456789abcdef", Expires: now.Add(time.Hour)},
		{KeyID: "fedcba9876543210", Expires: now.Add(30 * 24 * time.Hour)},
		{KeyID: "k", Expires: now.Add(time.Second)},
	} {
		f.Add(SignSession(secret, s), s.KeyID, s.Expires.Unix())
	}
	// The same signature spelled otherwise: unused bits set in its last
	// character, which a lax base64 decoder ignores.
	signed := SignSession(secret, Session{KeyID: "0123456789abcdef", Expires: now.Add(time.Hour)})
	last := strings.IndexByte(b64Alphabet, signed[len(signed)-1])
	f.Add(signed[:len(signed)-1]+b64Alphabet[last+1:last+2], "0123456789abcdef", int64(0))
	f.Add("a.b.c", "a.b", int64(-1))
	f.Add("", "", int64(0))

	f.Fuzz(func(t *testing.T, cookie, keyID string, expires int64) {
		if got, err := ParseSession(secret, cookie, now); err == nil {
			if want := SignSession(secret, got); cookie != want {
				t.Fatalf("accepted %q, which is not %q as signed", cookie, want)
			}
			if !now.Before(got.Expires) {
				t.Fatalf("accepted %q, expired at %v", cookie, got.Expires)
			}
		}

		s := Session{KeyID: keyID, Expires: time.Unix(expires, 0)}
		signed := SignSession(secret, s)
		before := s.Expires.Add(-time.Second)
		got, err := ParseSession(secret, signed, before)
		if keyID == "" || strings.Contains(keyID, ".") {
			if err == nil {
				t.Fatalf("a session for key %q parsed as %+v", keyID, got)
			}
		} else if err != nil || got.KeyID != s.KeyID || !got.Expires.Equal(s.Expires) {
			t.Fatalf("ParseSession(SignSession(%+v)) = %+v, %v", s, got, err)
		}
		if _, err := ParseSession(secret, signed, s.Expires); err == nil {
			t.Fatalf("%q parsed at its expiry", signed)
		}
		if _, err := ParseSession([]byte(strings.Repeat("t", 32)), signed, before); err == nil {
			t.Fatalf("%q parsed under another secret", signed)
		}
	})
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// FuzzLinkToken feeds /dashboard/s/TOKEN addresses from clients to the
// token parser: only a token with a link's shape reaches the store, and
// every token the store makes has it.
func FuzzLinkToken(f *testing.F) {
	links := NewLinks(nil, []byte(strings.Repeat("s", 32)), 0)
	good := links.Token(Link{ID: "00000000000000aa", Scope: Scope{Kind: ScopeGroup, Value: "spring-2026"}})
	for _, s := range []string{good, "00000000000000aa.x", "00000000000000bb.x", "", ".", "zz00000000000000." + good[17:], good + "=", "00000000000000aa"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, ok := linkID(token)
		if !ok {
			return
		}
		if _, err := hex.DecodeString(id); err != nil || len(id) != 16 || !strings.HasPrefix(token, id+".") {
			t.Fatalf("%q passed with id %q", token, id)
		}
		sig := token[17:]
		if _, err := b64.DecodeString(sig); err != nil || len(sig) != 24 {
			t.Fatalf("%q passed with signature %q", token, sig)
		}
		if _, ok := linkID(links.Token(Link{ID: id, Scope: Scope{Kind: ScopeCredential, Value: "c"}})); !ok {
			t.Fatalf("a token made for id %q does not parse", id)
		}
	})
}
