package compat

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/aggregator"
	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/edge"
	"github.com/credstats/credstats/internal/event"
)

// badges.ninja-compatible routes: POST /awards/:id/event with
// {"parameters": {"kind": ..., "network": ...}}, and GET /awards/:id/stats,
// both answering in that API's envelopes.

// ParseBadgesNinjaKind maps a badges.ninja event kind and network onto the
// event model's type and network names: a share to `copy` is a link copy,
// and `x` is Twitter's other name. What it returns still goes through
// Input.Event's rules.
func ParseBadgesNinjaKind(kind, network string) (typ, net string) {
	network = strings.ToLower(network)
	if network == "x" {
		network = "twitter"
	}
	if kind == "share" && network == "copy" {
		return event.LinkCopy.String(), ""
	}
	return kind, network
}

// BadgesNinjaIngestRoutes registers the badges.ninja-compatible event
// route of the collector c, behind its gate's rate limit.
func BadgesNinjaIngestRoutes(r fiber.Router, c *collector.Collector) {
	r.Post("/awards/:id/event", badgesNinja(c.Gate().Limited(badgesNinjaIngest{c}.event)))
}

// BadgesNinjaStatsRoutes registers the badges.ninja-compatible stats
// route over the aggregator's public counters; limited wraps it as the
// other public routes.
func BadgesNinjaStatsRoutes(r fiber.Router, api *aggregator.API, limited func(fiber.Handler) fiber.Handler) {
	r.Get("/awards/:id/stats", badgesNinja(limited(badgesNinjaStats{api}.stats)))
}

// badgesNinja wraps a handler so that its errors answer in the
// badges.ninja API's envelope, {"error": "..."}, with the status they
// would have anywhere else.
func badgesNinja(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := h(c)
		if err == nil {
			return nil
		}
		e := edge.From(err)
		return c.Status(e.Status).JSON(fiber.Map{"error": e.Message})
	}
}

type badgesNinjaIngest struct{ c *collector.Collector }

type badgesNinjaBody struct {
	Parameters struct {
		Kind    string `json:"kind"`
		Network string `json:"network"`
		Actor   string `json:"actor"`
	} `json:"parameters"`
}

func (x badgesNinjaIngest) event(ctx *fiber.Ctx) error {
	if err := collector.CheckBody(ctx); err != nil {
		return err
	}
	var body badgesNinjaBody
	if err := event.DecodeJSON(ctx.Body(), &body); err != nil {
		return err
	}
	p := body.Parameters
	if p.Kind == "" {
		return edge.Invalid("missing required parameters: kind")
	}
	typ, network := ParseBadgesNinjaKind(p.Kind, p.Network)
	in := event.Input{Credential: strings.Clone(ctx.Params("id")), Type: typ, Network: network, Actor: p.Actor}
	res, err := x.c.Ingest(x.c.HitFrom(ctx, in, event.Beacon))
	if err != nil {
		return collector.IngestError(renameField(err, map[string]string{"credential": "id", "type": "kind"}))
	}
	if res.Duplicate {
		ctx.Set(collector.DroppedHeader, "duplicate")
	}
	return ctx.JSON(fiber.Map{
		"statusCode": fiber.StatusOK,
		"info": fiber.Map{
			"awardId":  in.Credential,
			"kind":     p.Kind,
			"network":  p.Network,
			"recorded": !res.Duplicate,
		},
	})
}

type badgesNinjaStats struct{ api *aggregator.API }

func (x badgesNinjaStats) stats(c *fiber.Ctx) error {
	st, err := x.api.Stats(c, c.Params("id"))
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
