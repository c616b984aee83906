package event_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/credstats/credstats/internal/event"
)

// TestDecodersCopy checks that what Decode and DecodeBinary return stays
// the same when the buffer they read is reused, as Fiber and the spool
// reuse theirs: small beacon bodies are copied whole, larger ones field by
// field, and the slow path goes through encoding/json.
func TestDecodersCopy(t *testing.T) {
	f := func(body string) {
		t.Helper()
		buf := []byte(body)
		in, err := event.Decode(buf)
		if err != nil {
			t.Fatalf("%.60q: %v", body, err)
		}
		want := in
		e, err := in.Event()
		if err != nil {
			t.Fatalf("%.60q: %v", body, err)
		}
		e.Source = event.Beacon
		wantEvent := e
		rec := event.AppendBinary(nil, &e)
		back, err := event.DecodeBinary(rec)
		if err != nil {
			t.Fatal(err)
		}
		wantBack := back
		for i := range buf {
			buf[i] = 'Z'
		}
		for i := range rec {
			rec[i] = 'Z'
		}
		if in != want || e != wantEvent || back != wantBack {
			t.Errorf("%.60q: the decoded values changed with the buffer", body)
		}
		if in.Credential != "c-1" || back.URLHost != "certs.example.org" {
			t.Errorf("%.60q: decoded %+v, %+v", body, in, back)
		}
	}
	f(`{"credential":"c-1","type":"view","url":"https://certs.example.org/c/c-1"}`)
	f(`{"credential":"c-1","type":"view","url":"https://certs.example.org/c/c-1","x":"` + strings.Repeat("y", 1000) + `"}`)
	f(`{"credential":"c-1","type":"view","url":"https://certs.example.org/c/\u00e9"}`)
}

// TestLargeBodyKeepsOnlyItsFields checks that the strings decoded from a
// large body do not share its memory, so that an event kept in memory
// holds no more of the body than its own fields.
func TestLargeBodyKeepsOnlyItsFields(t *testing.T) {
	body := []byte(`{"credential":"c-1","type":"view","pad":"` + strings.Repeat("p", 3000) + `"}`)
	in, err := event.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if in.Credential != "c-1" || in.Type != "view" {
		t.Fatalf("decoded %+v", in)
	}
	if n := testing.AllocsPerRun(10, func() { event.Decode(body) }); n > 2 {
		t.Errorf("%v allocations for a large body, want one a kept field", n)
	}
	if !bytes.Contains(body, []byte("c-1")) {
		t.Fatal("the body changed")
	}
}
