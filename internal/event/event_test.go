package event_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/credstats/credstats/internal/event"
)

func TestInputEvent(t *testing.T) {
	f := func(in event.Input, wantField string) {
		t.Helper()
		_, err := in.Event()
		var fe *event.FieldError
		switch {
		case wantField == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", in, err)
		case wantField != "" && !errors.As(err, &fe):
			t.Errorf("%+v: want an error on %q, got %v", in, wantField, err)
		case wantField != "" && fe.Field != wantField:
			t.Errorf("%+v: error names %q, want %q", in, fe.Field, wantField)
		}
	}
	ok := event.Input{Credential: "cred-1", Type: "view"}
	f(ok, "")
	f(event.Input{Credential: "a.b_c:d-E9", Type: "share", Network: "whatsapp", Actor: "recipient", Group: "g1"}, "")
	f(event.Input{Type: "view"}, "credential")
	f(event.Input{Credential: strings.Repeat("a", 128), Type: "view"}, "")
	f(event.Input{Credential: strings.Repeat("a", 129), Type: "view"}, "credential")
	f(event.Input{Credential: "a b", Type: "view"}, "credential")
	f(event.Input{Credential: "a/b", Type: "view"}, "credential")
	f(event.Input{Credential: "é", Type: "view"}, "credential")
	f(event.Input{Credential: "c", Type: "view", Group: "g?"}, "group")
	f(event.Input{Credential: "c"}, "type")
	f(event.Input{Credential: "c", Type: "click"}, "type")
	f(event.Input{Credential: "c", Type: "share"}, "network")
	f(event.Input{Credential: "c", Type: "share", Network: "myspace"}, "network")
	f(event.Input{Credential: "c", Type: "view", Network: "linkedin"}, "network")
	f(event.Input{Credential: "c", Type: "view", Actor: "admin"}, "actor")
	f(event.Input{Credential: "c", Type: "view", URL: "https://example.org/x?y=1"}, "")
	f(event.Input{Credential: "c", Type: "view", URL: "javascript:alert(1)"}, "url")
	f(event.Input{Credential: "c", Type: "view", URL: "/relative"}, "url")
	f(event.Input{Credential: "c", Type: "view", URL: "https://e.org/" + strings.Repeat("a", 2000)}, "url")
	f(event.Input{Credential: "c", Type: "view", Referrer: "http://%zz"}, "referrer")
}

func TestInputEventKeepsHostAndPathOnly(t *testing.T) {
	e, err := event.Input{
		Credential: "c", Type: "view",
		URL:      "https://Certs.Example.org/c/42?email=someone@example.org#top",
		Referrer: "https://www.linkedin.com/feed/?trk=x",
	}.Event()
	if err != nil {
		t.Fatal(err)
	}
	if e.URLHost != "certs.example.org" || e.URLPath != "/c/42" {
		t.Errorf("url stored as %q %q", e.URLHost, e.URLPath)
	}
	if e.ReferrerHost != "www.linkedin.com" || e.ReferrerPath != "/feed/" {
		t.Errorf("referrer stored as %q %q", e.ReferrerHost, e.ReferrerPath)
	}
	if e.Actor != event.Guest {
		t.Errorf("default actor %v, want guest", e.Actor)
	}
}

func TestDecode(t *testing.T) {
	f := func(body string, wantField string, wantMalformed bool) {
		t.Helper()
		_, err := event.Decode([]byte(body))
		var fe *event.FieldError
		switch {
		case wantMalformed:
			if !errors.Is(err, event.ErrMalformed) {
				t.Errorf("%s: want malformed, got %v", body, err)
			}
		case wantField != "":
			if !errors.As(err, &fe) || fe.Field != wantField {
				t.Errorf("%s: want error on %q, got %v", body, wantField, err)
			}
		case err != nil:
			t.Errorf("%s: unexpected error %v", body, err)
		}
	}
	f(`{"credential":"c","type":"view","unknown":[1,2]}`, "", false)
	f(`{"credential":"c",`, "", true)
	f(`[1]`, "", true)
	f(`null`, "", true)
	f(``, "", true)
	f(`{"a":1} {"b":2}`, "", true)
	f(`{"credential":123}`, "credential", false)
	f(`{"type":{"x":1}}`, "type", false)
}

// FuzzDecode checks that no body can crash the decoder and that whatever
// passes validation keeps the rules of the event model.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"credential":"c-1","type":"share","network":"linkedin","actor":"recipient","url":"https://e.org/a?b"}`))
	f.Add([]byte(`{"credential":"c","type":"view","group":"g","referrer":"http://x.y/z"}`))
	f.Add([]byte(`{"credential":1}`))
	f.Add([]byte(`{"credential":"\u0000","type":"view"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := event.Decode(body)
		if err != nil {
			return
		}
		e, err := in.Event()
		if err != nil {
			return
		}
		if !event.ValidID(e.Credential) || (e.Group != "" && !event.ValidID(e.Group)) {
			t.Fatalf("accepted bad id in %q", body)
		}
		if (e.Type == event.Share) != (e.Network != event.NetworkNone) || e.Type.String() == "" {
			t.Fatalf("accepted bad type/network in %q", body)
		}
		if strings.ContainsAny(e.URLPath+e.ReferrerPath, "?#") {
			t.Fatalf("kept a query or fragment from %q", body)
		}
	})
}

func BenchmarkDecodeValidate(b *testing.B) {
	body := []byte(`{"credential":"01hrsvjp560yksep2a3bek3z97","type":"share","network":"linkedin","actor":"recipient","group":"spring-2026","url":"https://certs.example.org/c/01hrsvjp560yksep2a3bek3z97","referrer":"https://www.linkedin.com/feed/"}`)
	b.ReportAllocs()
	for b.Loop() {
		in, err := event.Decode(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := in.Event(); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeFlat checks that the fast path and encoding/json agree on
// every body the fast path takes.
func FuzzDecodeFlat(f *testing.F) {
	f.Add([]byte(`{"credential":"c-1","type":"share","network":"linkedin","actor":"recipient"}`))
	f.Add([]byte(` { "Type" : "view" , "x":"y"} `))
	f.Add([]byte(`{"credential":"a","credential":"b"}`))
	f.Add([]byte(`{}`))
	// Past the size the fast path copies whole, it copies value by value.
	f.Add([]byte(`{"credential":"c-1","type":"view","pad":"` + strings.Repeat("p", 600) + `","url":"https://e.org/a"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := event.Decode(body)
		var want event.Input
		wantErr := event.DecodeJSON(body, &want)
		if (err == nil) != (wantErr == nil) || (err == nil && got != want) {
			t.Fatalf("%q: Decode %+v (%v), encoding/json %+v (%v)", body, got, err, want, wantErr)
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	in := event.Input{Credential: "01hrsvjp560yksep2a3bek3z97", Type: "share", Network: "linkedin", Actor: "recipient", Group: "spring-2026",
		URL: "https://certs.example.org/c/01hrsvjp560yksep2a3bek3z97", Referrer: "https://www.linkedin.com/feed/"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.Event(); err != nil {
			b.Fatal(err)
		}
	}
}
