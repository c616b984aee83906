package auth

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/internal/edge"
)

// Guard holds back clients that fail to authenticate too often, before
// their next attempt costs a lookup.
type Guard interface {
	// AuthBlocked reports whether the request's client has failed too often.
	AuthBlocked(c *fiber.Ctx) bool
	// AuthFailed counts a failed authentication against the request's client.
	AuthFailed(c *fiber.Ctx)
}

// Require is middleware that lets a request through only with an
// `Authorization: Bearer KEY` whose key has the scope: no key, an unknown
// or revoked one is 401, a key without the scope 403, and a client that
// the guard (which may be nil) holds back 429.
func (s *Keys) Require(scope string, guard Guard) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if guard != nil && guard.AuthBlocked(c) {
			return edge.RateLimited("too many failed authentications from this address; try again later")
		}
		token, ok := BearerToken(c.Get(fiber.HeaderAuthorization))
		if !ok {
			return edge.Unauthorized("a valid API key was not provided with the request (Authorization: Bearer KEY)")
		}
		k, err := s.Authenticate(c.UserContext(), token, scope)
		if guard != nil && (errors.Is(err, ErrKeyUnknown) || errors.Is(err, ErrKeyRevoked)) {
			guard.AuthFailed(c)
		}
		switch {
		case errors.Is(err, ErrKeyUnknown), errors.Is(err, ErrKeyRevoked):
			return edge.Unauthorized(err.Error())
		case errors.Is(err, ErrKeyForbidden):
			return edge.Forbidden("this API key lacks the " + scope + " scope")
		case err != nil:
			return edge.Unavailable("cannot check the API key right now; try again shortly")
		}
		c.Locals(keyLocal, k)
		return c.Next()
	}
}

const keyLocal = "auth.key"

// KeyOf is the key Require let the request through with.
func KeyOf(c *fiber.Ctx) Key {
	k, _ := c.Locals(keyLocal).(Key)
	return k
}

// BearerToken returns the credentials of an Authorization header in the
// Bearer scheme, whose name is case-insensitive (RFC 7235).
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
