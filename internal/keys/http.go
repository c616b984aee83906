package keys

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/internal/apierr"
)

// Require is middleware that lets a request through only with an
// `Authorization: Bearer KEY` whose key has the scope: no key, an unknown
// or revoked one is 401, a key without the scope 403.
func (s *Store) Require(scope string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		auth := c.Get(fiber.HeaderAuthorization)
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || token == "" {
			return apierr.Unauthorized("a valid API key was not provided with the request (Authorization: Bearer KEY)")
		}
		_, err := s.Authenticate(c.UserContext(), strings.TrimSpace(token), scope)
		switch {
		case errors.Is(err, ErrUnknown), errors.Is(err, ErrRevoked):
			return apierr.Unauthorized(err.Error())
		case errors.Is(err, ErrForbidden):
			return apierr.Forbidden("this API key lacks the " + scope + " scope")
		case err != nil:
			return apierr.Unavailable("cannot check the API key right now; try again shortly")
		}
		return c.Next()
	}
}
