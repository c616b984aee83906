package auth

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSession(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	now := time.Unix(1_800_000_000, 0)
	s := Session{KeyID: "0123456789abcdef", Expires: now.Add(time.Hour)}
	cookie := SignSession(secret, s)

	got, err := ParseSession(secret, cookie, now)
	if err != nil || got.KeyID != s.KeyID || !got.Expires.Equal(s.Expires) {
		t.Fatalf("ParseSession(SignSession(s)) = %+v, %v; want %+v", got, err, s)
	}
	bad := func(name, value string, at time.Time, key []byte) {
		t.Helper()
		if _, err := ParseSession(key, value, at); err == nil {
			t.Errorf("%s: ParseSession(%q) accepted it", name, value)
		}
	}
	bad("expired", cookie, now.Add(time.Hour), secret)
	bad("other secret", cookie, now, []byte(strings.Repeat("t", 32)))
	bad("empty", "", now, secret)
	bad("no parts", "abc", now, secret)
	parts := strings.Split(cookie, ".")
	bad("other key id", "fedcba9876543210."+parts[1]+"."+parts[2], now, secret)
	bad("later expiry", parts[0]+".9999999999."+parts[2], now, secret)
	bad("bad signature", parts[0]+"."+parts[1]+".AAAA", now, secret)
	bad("extra part", cookie+".x", now, secret)
	// A link's signature is never a session's, even over the same text.
	link := NewLinks(nil, secret, 0).Token(Link{ID: parts[0], Scope: Scope{Kind: ScopeGroup, Value: parts[1]}})
	_, linkSig, _ := strings.Cut(link, ".")
	bad("link signature", parts[0]+"."+parts[1]+"."+linkSig, now, secret)
}

func TestLinkToken(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	links := NewLinks(nil, secret, 0)
	l := Link{ID: "0123456789abcdef", Scope: Scope{Kind: ScopeGroup, Value: "g1"}}
	token := links.Token(l)
	if !strings.HasPrefix(token, l.ID+".") || token != links.Token(l) {
		t.Fatalf("Token = %q: want ID.MAC, the same every time", token)
	}
	for _, other := range []Link{
		{ID: l.ID, Scope: Scope{Kind: ScopeGroup, Value: "g2"}},
		{ID: l.ID, Scope: Scope{Kind: ScopeCredential, Value: "g1"}},
		{ID: "0123456789abcdee", Scope: l.Scope},
	} {
		if links.Token(other) == token {
			t.Errorf("links %+v and %+v have the same token", l, other)
		}
	}
	if NewLinks(nil, []byte(strings.Repeat("t", 32)), 0).Token(l) == token {
		t.Error("another secret signs the same token")
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadSecret("", dir)
	if err != nil || len(a) < MinSecret {
		t.Fatalf("LoadSecret made %d bytes, %v", len(a), err)
	}
	b, err := LoadSecret("", dir)
	if err != nil || string(a) != string(b) {
		t.Fatalf("LoadSecret did not read back the secret it made: %v", err)
	}
	if _, err := LoadSecret("short", dir); err == nil {
		t.Error("LoadSecret took a short configured secret")
	}
	if s, err := LoadSecret(strings.Repeat("x", 40), dir); err != nil || string(s) != strings.Repeat("x", 40) {
		t.Errorf("LoadSecret(configured) = %q, %v", s, err)
	}
}

// A command that manages links never makes a second secret: links signed
// with it would not open on the server.
func TestReadSecretNeverMakesOne(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadSecret("", dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("ReadSecret in an empty folder: %v; want an error naming it", err)
	}
	if _, err := os.Stat(filepath.Join(dir, SecretFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadSecret made a secret: %v", err)
	}
	made, err := LoadSecret("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if read, err := ReadSecret("", dir); err != nil || string(read) != string(made) {
		t.Fatalf("ReadSecret after the server made one: %x, %v; want %x", read, err, made)
	}
}
