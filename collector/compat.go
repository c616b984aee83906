package collector

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/credstats/credstats/internal/apierr"
	"github.com/credstats/credstats/internal/event"
)

// Certifier-compatible ingest: POST /v1/credential-interactions, with the
// Certifier API's headers, body, answer and error codes.

// How far a Certifier client's triggeredAt may stray from the server
// clock: a little into the future, and years into the past, so that an
// integrator who switches can replay its history. The floor keeps a batch
// within 60 monthly partitions, below the 100 that ClickHouse lets one
// insert touch.
const (
	MaxClockSkew = 5 * time.Minute
	MaxEventAge  = 5 * 365 * 24 * time.Hour
)

// CertifierVersions are the versions of the Certifier API this route
// implements.
var CertifierVersions = []string{"2022-10-26"}

type certifierInteraction struct {
	ID           string `json:"id,omitempty"`
	CredentialID string `json:"credentialId"`
	EventType    string `json:"eventType"`
	TriggeredBy  string `json:"triggeredBy"`
	TriggeredAt  string `json:"triggeredAt"`
}

func certifierErr(code, msg string) *apierr.Error {
	return apierr.New(fiber.StatusBadRequest, code, msg)
}

// CertifierRoutes registers the Certifier-compatible route behind auth,
// which checks the bearer key.
func (c *Collector) CertifierRoutes(r fiber.Router, auth fiber.Handler) {
	r.Post("/v1/credential-interactions", auth, c.certifierInteraction)
}

func (c *Collector) certifierInteraction(ctx *fiber.Ctx) error {
	switch v := ctx.Get("Certifier-Version"); {
	case v == "":
		return certifierErr("missing_version", "The request is missing the required Certifier-Version header")
	case !slices.Contains(CertifierVersions, v):
		return certifierErr("invalid_version", "The Certifier-Version header must be one of the API's versions: "+strings.Join(CertifierVersions, ", "))
	}
	if len(ctx.Body()) > MaxBodySize {
		return apierr.ErrTooLarge
	}
	var body certifierInteraction
	if err := event.DecodeJSON(ctx.Body(), &body); err != nil {
		var fe *event.FieldError
		if errors.As(err, &fe) {
			return certifierErr("validation_error", fe.Error())
		}
		return certifierErr("invalid_json", "The request body is not valid JSON: "+err.Error())
	}
	in, at, err := body.input(c.o.Now())
	if err != nil {
		return certifierErr("validation_error", err.Error())
	}
	h := c.hit(ctx, in, event.API)
	h.Time = at
	res, err := c.Ingest(h)
	if err != nil {
		var fe *event.FieldError
		if errors.As(renameField(err, map[string]string{"credential": "credentialId"}), &fe) {
			return certifierErr("validation_error", fe.Error())
		}
		return ingestErr(err)
	}
	body.ID = ulid(res.Event.ID)
	body.TriggeredAt = at.UTC().Format("2006-01-02T15:04:05.000Z")
	return ctx.Status(fiber.StatusOK).JSON(body)
}

func (b certifierInteraction) input(now time.Time) (event.Input, time.Time, error) {
	if b.CredentialID == "" {
		return event.Input{}, time.Time{}, &event.FieldError{Field: "credentialId", Message: "is required"}
	}
	typ, network, ok := event.ParseCertifierType(b.EventType)
	if !ok {
		return event.Input{}, time.Time{}, &event.FieldError{Field: "eventType", Message: "must be one of " + strings.Join(event.CertifierTypes, ", ")}
	}
	if b.TriggeredBy != "recipient" && b.TriggeredBy != "guest" {
		return event.Input{}, time.Time{}, &event.FieldError{Field: "triggeredBy", Message: "must be recipient or guest"}
	}
	at, err := time.Parse(time.RFC3339Nano, b.TriggeredAt)
	switch {
	case b.TriggeredAt == "":
		return event.Input{}, time.Time{}, &event.FieldError{Field: "triggeredAt", Message: "is required"}
	case err != nil:
		return event.Input{}, time.Time{}, &event.FieldError{Field: "triggeredAt", Message: "must be an ISO 8601 date and time such as 2024-03-12T17:33:05.784Z"}
	case at.After(now.Add(MaxClockSkew)):
		return event.Input{}, time.Time{}, &event.FieldError{Field: "triggeredAt", Message: "is in the future"}
	case at.Before(now.Add(-MaxEventAge)):
		return event.Input{}, time.Time{}, &event.FieldError{Field: "triggeredAt", Message: "is more than 5 years in the past"}
	}
	return event.Input{
		Credential: b.CredentialID,
		Type:       typ.String(),
		Network:    network.String(),
		Actor:      b.TriggeredBy,
	}, at, nil
}

// ulid writes a 128-bit id in the 26-character Crockford base32 form of
// Certifier's ids. A UUIDv7, like a ULID, starts with its millisecond time,
// so the ids sort by creation.
func ulid(id uuid.UUID) string {
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	var out [26]byte
	// 130 bits of output for 128 of input: the first character takes the
	// top two zero bits and the id's first three.
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(id[i])
		lo = lo<<8 | uint64(id[i+8])
	}
	for i := 25; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// badges.ninja-compatible ingest: POST /awards/:id/event with
// {"parameters": {"kind": ..., "network": ...}}.

type badgesNinjaBody struct {
	Parameters struct {
		Kind    string `json:"kind"`
		Network string `json:"network"`
		Actor   string `json:"actor"`
	} `json:"parameters"`
}

func (c *Collector) badgesNinjaEvent(ctx *fiber.Ctx) error {
	if err := checkBody(ctx); err != nil {
		return err
	}
	var body badgesNinjaBody
	if err := event.DecodeJSON(ctx.Body(), &body); err != nil {
		return err
	}
	p := body.Parameters
	if p.Kind == "" {
		return apierr.Invalid("missing required parameters: kind")
	}
	typ, network := event.ParseBadgesNinjaKind(p.Kind, p.Network)
	in := event.Input{Credential: strings.Clone(ctx.Params("id")), Type: typ, Network: network, Actor: p.Actor}
	res, err := c.Ingest(c.hit(ctx, in, event.Beacon))
	if err != nil {
		return ingestErr(renameField(err, map[string]string{"credential": "id", "type": "kind"}))
	}
	if res.Duplicate {
		ctx.Set(DroppedHeader, "duplicate")
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
