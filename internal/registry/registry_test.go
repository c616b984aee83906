package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/credstats/credstats/internal/event"
)

func TestDecodeChecksEveryField(t *testing.T) {
	e, err := Decode([]byte(`{"name":"Data Science 101","recipient_name":"Zoë O'Neil","group":"course-9","group_name":"Course 9","organization":"acme","issued_at":"2026-01-05T10:00:00+01:00"}`), "c-1")
	if err != nil || e.ID != "c-1" || e.Status != Valid || e.IssuedAt == nil || e.IssuedAt.UTC().Hour() != 9 || e.ExpiresAt != nil {
		t.Fatalf("%+v %v", e, err)
	}
	for body, field := range map[string]string{
		`{"id":"c-2"}`: "id",
		`{"name":"` + strings.Repeat("x", 201) + `"}`: "name",
		`{"name":"a\u0007b"}`:                         "name",
		`{"group":"has space"}`:                       "group",
		`{"status":"lost"}`:                           "status",
		`{"groupname":"typo"}`:                        "groupname",
		`{"name":7}`:                                  "name",
		`{"issued_at":"2026-02-01T00:00:00Z","expires_at":"2026-01-01T00:00:00Z"}`: "expires_at",
		`{"issued_at":"1066-10-14T00:00:00Z"}`:                                     "issued_at",
	} {
		_, err := Decode([]byte(body), "c-1")
		var fe *event.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want an error naming %s", body, err, field)
		}
	}
	for _, body := range []string{``, `[]`, `{"name":"a"} {}`, `{"name":`, `{"issued_at":"yesterday"}`} {
		if _, err := Decode([]byte(body), "c-1"); err == nil {
			t.Errorf("%q decoded", body)
		}
	}
}

// FuzzDecode: no body crashes Decode, and what it accepts passes Check.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"name":"Data Science","group":"g-1","issued_at":"2026-01-05T10:00:00Z","status":"revoked"}`), "c-1")
	f.Add([]byte(`{"id":"x"}`), "")
	f.Add([]byte(`{"expires_at":"2026-01-05T10:00:00Z","issued_at":null}`), "a.b")
	f.Fuzz(func(t *testing.T, body []byte, id string) {
		e, err := Decode(body, id)
		if err != nil {
			return
		}
		if err := e.Check(); err != nil {
			t.Fatalf("accepted %q, then %v", body, err)
		}
	})
}
