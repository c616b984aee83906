package dashboard

import (
	"crypto/hmac"
	"errors"
	"strconv"
	"strings"
	"time"
)

// CookieName is the session cookie's name.
const CookieName = "credstats_session"

// A session says that the holder signed in with the API key KeyID. It is
// only as good as that key: every request checks the key is still valid.
type session struct {
	KeyID   string
	Expires time.Time
}

var errBadSession = errors.New("the session is not valid")

const sessionPurpose = "credstats dashboard session v1"

// signSession returns the cookie value KEYID.EXPIRES.MAC.
func signSession(secret []byte, s session) string {
	exp := strconv.FormatInt(s.Expires.Unix(), 10)
	return s.KeyID + "." + exp + "." + b64.EncodeToString(mac(secret, sessionPurpose, s.KeyID, exp))
}

// parseSession checks a cookie value's signature and expiry.
func parseSession(secret []byte, v string, now time.Time) (session, error) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[0] == "" {
		return session{}, errBadSession
	}
	// The signature is compared as signSession writes it: the decoder would
	// also take other spellings of the same bytes (line breaks, unused bits).
	want := b64.EncodeToString(mac(secret, sessionPurpose, parts[0], parts[1]))
	if !hmac.Equal([]byte(parts[2]), []byte(want)) {
		return session{}, errBadSession
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return session{}, errBadSession
	}
	return session{KeyID: parts[0], Expires: time.Unix(exp, 0)}, nil
}
