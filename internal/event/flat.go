package event

import "strings"

// decodeFlat is Decode's fast path for what beacons send: one flat JSON
// object whose values are plain ASCII strings without escapes. Anything
// else (escapes, other value types, non-ASCII, odd key case) returns
// ok false and goes to encoding/json, so both paths give the same answer;
// FuzzDecodeFlat checks that they do.
func decodeFlat(b []byte) (in Input, ok bool) {
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
		switch key {
		case "credential":
			in.Credential = val
		case "type":
			in.Type = val
		case "network":
			in.Network = val
		case "actor":
			in.Actor = val
		case "group":
			in.Group = val
		case "url":
			in.URL = val
		case "referrer":
			in.Referrer = val
		case "via":
			in.Via = val
		default:
			// encoding/json matches keys without regard to case.
			for _, k := range [...]string{"credential", "type", "network", "actor", "group", "url", "referrer", "via"} {
				if strings.EqualFold(key, k) {
					return in, false
				}
			}
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

// flatString reads a string at b[i] that needs no unescaping; the string
// is a copy, safe to keep after b is reused.
func flatString(b []byte, i int) (s string, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", 0, false
		}
	}
	return "", 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
