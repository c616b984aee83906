package aggregator

import (
	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/internal/apierr"
	"github.com/credstats/credstats/internal/event"
)

// Routes registers the public stats routes; limited wraps each handler
// with the per-client rate limit.
func (s Store) Routes(r fiber.Router, limited func(fiber.Handler) fiber.Handler) {
	r.Get("/api/v1/credentials/:id/stats", limited(s.credentialStats))
	r.Get("/awards/:id/stats", apierr.BadgesNinja(limited(s.awardStats)))
}

func (s Store) stats(c *fiber.Ctx) (Stats, error) {
	id := c.Params("id")
	if !event.ValidID(id) {
		return Stats{}, apierr.Invalid("id: must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'")
	}
	st, err := s.CredentialStats(c.UserContext(), id)
	if err != nil {
		return Stats{}, apierr.Unavailable("cannot read stats right now; try again shortly")
	}
	return st, nil
}

func (s Store) credentialStats(c *fiber.Ctx) error {
	st, err := s.stats(c)
	if err != nil {
		return err
	}
	return c.JSON(st)
}

// awardStats answers in the badges.ninja API's envelope.
func (s Store) awardStats(c *fiber.Ctx) error {
	st, err := s.stats(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{
		"statusCode": fiber.StatusOK,
		"info": fiber.Map{"stats": fiber.Map{
			"views":         st.Views,
			"shares":        st.Shares,
			"downloads":     st.Downloads,
			"linkedin_adds": st.LinkedInAdds,
		}},
	})
}
