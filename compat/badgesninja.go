package compat

import (
	"errors"
	"maps"
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
func BadgesNinjaIngestRoutes(r fiber.Router, c *collector.Collector, groups GroupOf) {
	r.Post("/awards/:id/event", badgesNinja(c.Gate().Limited(badgesNinjaIngest{c, groups}.event)))
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

type badgesNinjaIngest struct {
	c      *collector.Collector
	groups GroupOf
}

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
	in.Group = x.groups.of(ctx, in.Credential)
	hit := x.c.HitFrom(ctx, in, event.Beacon)
	hit.DedupByKind = true
	res, err := x.c.Ingest(hit)
	if err != nil {
		return collector.IngestError(inBadgesNinjaTerms(err))
	}
	collector.SetDropped(ctx, res)
	return ctx.JSON(fiber.Map{
		"statusCode": fiber.StatusOK,
		"info": fiber.Map{
			"awardId":  in.Credential,
			"kind":     p.Kind,
			"network":  p.Network,
			"recorded": res.Dropped() == "",
		},
	})
}

// badgesNinjaKinds are the kinds the badges.ninja API documents.
var badgesNinjaKinds = []string{"view", "share", "download", "linkedin_add"}

// inBadgesNinjaTerms words a refusal in the API's own terms: the path's
// id, the parameters' kind, and the networks it takes, copy among them.
func inBadgesNinjaTerms(err error) error {
	var fe *event.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	switch fe.Field {
	case "credential":
		fe.Field = "id"
	case "type":
		fe.Field, fe.Message = "kind", "must be one of "+strings.Join(badgesNinjaKinds, ", ")
	case "network":
		networks := append(event.NetworkEnum.Names()[1:], "x", "copy")
		fe.Message = strings.ReplaceAll(fe.Message, "type is share", "kind is share")
		if strings.HasPrefix(fe.Message, "must be one of") {
			fe.Message = "must be one of " + strings.Join(networks, ", ")
		}
	}
	return err
}

type badgesNinjaStats struct{ api *aggregator.API }

func (x badgesNinjaStats) stats(c *fiber.Ctx) error {
	st, err := x.api.Stats(c, c.Params("id"))
	if err != nil {
		return err
	}
	// The API's shares count link copies as the network "copy".
	shares := maps.Clone(st.Shares)
	shares["copy"] = st.LinkCopies
	return c.JSON(fiber.Map{
		"statusCode": fiber.StatusOK,
		"info": fiber.Map{"stats": fiber.Map{
			"views":         st.Views,
			"shares":        shares,
			"downloads":     st.Downloads,
			"linkedin_adds": st.LinkedInAdds,
		}},
	})
}
