package auth

import (
	"crypto/hmac"
	"errors"
	"strconv"
	"strings"
	"time"
)

// A Session says that the holder signed in to the dashboard with the API
// key KeyID. It is only as good as that key: every request checks the key
// is still valid.
type Session struct {
	KeyID   string
	Expires time.Time
}

// ErrBadSession refuses a session cookie that is forged, altered or
// expired.
var ErrBadSession = errors.New("the session is not valid")

const sessionPurpose = "credstats dashboard session v1"

// SignSession returns the cookie value KEYID.EXPIRES.MAC.
func SignSession(secret []byte, s Session) string {
	exp := strconv.FormatInt(s.Expires.Unix(), 10)
	return s.KeyID + "." + exp + "." + b64.EncodeToString(mac(secret, sessionPurpose, s.KeyID, exp))
}

// ParseSession checks a cookie value's signature and expiry.
func ParseSession(secret []byte, v string, now time.Time) (Session, error) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[0] == "" {
		return Session{}, ErrBadSession
	}
	// The signature is compared as SignSession writes it: the decoder would
	// also take other spellings of the same bytes (line breaks, unused bits).
	want := b64.EncodeToString(mac(secret, sessionPurpose, parts[0], parts[1]))
	if !hmac.Equal([]byte(parts[2]), []byte(want)) {
		return Session{}, ErrBadSession
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return Session{}, ErrBadSession
	}
	return Session{KeyID: parts[0], Expires: time.Unix(exp, 0)}, nil
}
