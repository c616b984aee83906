package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the event model.
const (
	MaxIDLen  = 128
	MaxURLLen = 2000
)

// Input is an event as a client sends it, before validation.
type Input struct {
	Credential string `json:"credential"`
	Type       string `json:"type"`
	Network    string `json:"network"`
	Actor      string `json:"actor"`
	Group      string `json:"group"`
	URL        string `json:"url"`
	Referrer   string `json:"referrer"`
	// Via is the tag of a shared link the page was opened with (see
	// package arrival); the collector reads it, and ignores one it does
	// not know rather than lose the event.
	Via string `json:"via"`
}

// FieldError names the field of a client's input that broke a rule.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrMalformed is wrapped by Decode's errors for bodies that are not a JSON
// object.
var ErrMalformed = errors.New("malformed JSON")

// Decode parses a JSON event body. Unknown fields are ignored; a field of
// the wrong JSON type is a *FieldError; anything else that is not one JSON
// object wraps ErrMalformed.
func Decode(body []byte) (Input, error) {
	if in, ok := decodeFlat(body); ok {
		return in, nil
	}
	var in Input
	if err := DecodeJSON(body, &in); err != nil {
		return Input{}, err
	}
	return in, nil
}

// DecodeJSON decodes one JSON object into v with Decode's error rules.
func DecodeJSON(body []byte, v any) error {
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return fmt.Errorf("%w: the body must be a JSON object", ErrMalformed)
	}
	err := json.Unmarshal(body, v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fieldErr(typeErr.Field, "must be a JSON %s", typeErr.Type.Kind())
	default:
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
}

// Event checks every rule of the event model and returns the Event with
// the client's fields filled in; server-side fields are left for the
// collector. The first broken rule is returned as a *FieldError.
func (in Input) Event() (Event, error) {
	var e Event
	if err := checkID("credential", in.Credential, true); err != nil {
		return e, err
	}
	if err := checkID("group", in.Group, false); err != nil {
		return e, err
	}
	typ, ok := ParseType(in.Type)
	if !ok {
		if in.Type == "" {
			return e, fieldErr("type", "is required")
		}
		return e, fieldErr("type", "must be one of %s", strings.Join(TypeEnum.Names(), ", "))
	}
	network, ok := ParseNetwork(in.Network)
	if !ok {
		return e, fieldErr("network", "must be one of %s", strings.Join(NetworkEnum.Names()[1:], ", "))
	}
	if typ == Share && network == NetworkNone {
		return e, fieldErr("network", "is required when type is share")
	}
	if typ != Share && network != NetworkNone {
		return e, fieldErr("network", "must be empty unless type is share")
	}
	actor, ok := ParseActor(in.Actor)
	if !ok {
		return e, fieldErr("actor", "must be recipient or guest")
	}
	urlHost, urlPath, err := hostPath("url", in.URL)
	if err != nil {
		return e, err
	}
	refHost, refPath, err := hostPath("referrer", in.Referrer)
	if err != nil {
		return e, err
	}
	return Event{
		Credential:   in.Credential,
		Group:        in.Group,
		Type:         typ,
		Network:      network,
		Actor:        actor,
		URLHost:      urlHost,
		URLPath:      urlPath,
		ReferrerHost: refHost,
		ReferrerPath: refPath,
	}, nil
}

// ValidID reports whether s is 1-128 characters of [A-Za-z0-9._:-], the
// charset of credential and group ids.
func ValidID(s string) bool { return checkID("id", s, true) == nil }

func checkID(field, s string, required bool) error {
	if s == "" {
		if required {
			return fieldErr(field, "is required")
		}
		return nil
	}
	if len(s) > MaxIDLen {
		return fieldErr(field, "must be at most %d characters", MaxIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fieldErr(field, "may only contain A-Z, a-z, 0-9, '.', '_', ':' and '-'")
		}
	}
	return nil
}

// hostPath keeps the host and path of an absolute http(s) URL and drops
// its query and fragment, which may carry personal data.
func hostPath(field, s string) (host, path string, err error) {
	if s == "" {
		return "", "", nil
	}
	if len(s) > MaxURLLen {
		return "", "", fieldErr(field, "must be at most %d characters", MaxURLLen)
	}
	if host, path, ok := plainHostPath(s); ok {
		return host, path, nil
	}
	u, perr := url.Parse(s)
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fieldErr(field, "must be an absolute http or https URL")
	}
	host = strings.ToLower(u.Hostname())
	if !validHost(host) {
		return "", "", fieldErr(field, "must have a host name of letters, digits, '.' and '-' (UTF-8 where international)")
	}
	path = u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return host, path, nil
}

// plainHostPath answers what hostPath's url.Parse would for the URLs
// pages nearly always send, without its allocations: a lower-case http(s)
// scheme, a host of ASCII letters, digits, '.', '-' and '_' with no port or
// user, and a path of characters that need no escaping. Anything else
// (ok false) goes through url.Parse.
func plainHostPath(s string) (host, path string, ok bool) {
	rest, found := strings.CutPrefix(s, "https://")
	if !found {
		if rest, found = strings.CutPrefix(s, "http://"); !found {
			return "", "", false
		}
	}
	i := 0
	lower := true
	for ; i < len(rest); i++ {
		c := rest[i]
		if c == '/' || c == '?' || c == '#' {
			break
		}
		if 'A' <= c && c <= 'Z' {
			lower = false
		} else if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return "", "", false
		}
	}
	if i == 0 {
		return "", "", false
	}
	host, rest = rest[:i], rest[i:]
	if !lower {
		host = strings.ToLower(host)
	}
	j := 0
	for ; j < len(rest); j++ {
		c := rest[j]
		if c == '?' || c == '#' {
			break
		}
		if !pathByte(c) {
			return "", "", false
		}
	}
	path = rest[:j]
	// url.Parse checks the escapes of a fragment and refuses control
	// bytes anywhere; the query it takes as it is.
	for _, c := range []byte(rest[j:]) {
		if c < 0x20 || c == 0x7f || c == '%' {
			return "", "", false
		}
	}
	if path == "" {
		path = "/"
	}
	return host, path, true
}

// pathByte reports whether c stands in an escaped URL path as itself.
func pathByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~$&+,/:;=@", c) >= 0
}

// validHost refuses host names that no browser sends: bytes that are not
// UTF-8 (a JSON decoder turns them into U+FFFD, which would then be
// stored), controls, spaces and punctuation other than '.', '-', '_', and
// ':' with brackets for IPv6.
func validHost(h string) bool {
	if !utf8.ValidString(h) {
		return false
	}
	for _, r := range h {
		switch {
		case r == utf8.RuneError, r < 0x80 && !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || strings.ContainsRune(".-_:[]", r)),
			unicode.IsControl(r), unicode.IsSpace(r):
			return false
		}
	}
	return true
}
