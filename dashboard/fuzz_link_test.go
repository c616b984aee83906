package dashboard

import (
	"encoding/hex"
	"strings"
	"testing"
)

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
