package event

import (
	"strings"
	"unsafe"
)

// decodeFlat is Decode's fast path for what beacons send: one flat JSON
// object whose values are plain ASCII strings without escapes. Anything
// else (escapes, other value types, non-ASCII, odd key case) returns
// ok false and goes to encoding/json, so both paths give the same answer;
// FuzzDecodeFlat checks that they do.
func decodeFlat(body []byte) (in Input, ok bool) {
	// One copy of a small body holds every value, instead of one copy a
	// value; a large one is copied value by value, so that the event's
	// strings never keep more of it alive than they need.
	shared := len(body) <= maxSharedBody
	b := unsafe.String(unsafe.SliceData(body), len(body))
	if shared {
		b = string(body)
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return in, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return in, skipSpace(b, i+1) == len(b)
	}
	for {
		key, next, ok := flatString(b, i)
		if !ok {
			return in, false
		}
		i = skipSpace(b, next)
		if i >= len(b) || b[i] != ':' {
			return in, false
		}
		val, next, ok := flatString(b, skipSpace(b, i+1))
		if !ok {
			return in, false
		}
		var field *string
		switch key {
		case "credential":
			field = &in.Credential
		case "type":
			field = &in.Type
		case "network":
			field = &in.Network
		case "actor":
			field = &in.Actor
		case "group":
			field = &in.Group
		case "url":
			field = &in.URL
		case "referrer":
			field = &in.Referrer
		case "via":
			field = &in.Via
		default:
			// encoding/json matches keys without regard to case.
			for _, k := range [...]string{"credential", "type", "network", "actor", "group", "url", "referrer", "via"} {
				if strings.EqualFold(key, k) {
					return in, false
				}
			}
		}
		switch {
		case field == nil:
		case shared:
			*field = val
		default:
			*field = strings.Clone(val)
		}
		i = skipSpace(b, next)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			return in, skipSpace(b, i+1) == len(b)
		default:
			return in, false
		}
	}
}

// maxSharedBody is the largest body decodeFlat copies whole. Beacons send
// about 200 bytes.
const maxSharedBody = 512

// flatString reads a string at b[i] that needs no unescaping; it is a part
// of b.
func flatString(b string, i int) (s string, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", 0, false
		}
	}
	return "", 0, false
}

func skipSpace(b string, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
