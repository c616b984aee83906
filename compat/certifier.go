// Package compat speaks the APIs of other credential platforms, one file
// each: Certifier's interaction ingest and badges.ninja's award events and
// stats. Each file holds its routes, how its names map onto the event
// model and its answers and errors; events go through the collector's
// Ingest and counters come from the aggregator's.
package compat

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/edge"
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

// CertifierTypes lists the Certifier API's credential interaction event
// types, in the order of its documentation.
var CertifierTypes = []string{
	"credential_viewed",
	"credential_shared_to_linkedin",
	"credential_added_to_linkedin_profile",
	"credential_shared_to_facebook",
	"credential_shared_to_twitter",
	"credential_shared_to_messenger",
	"credential_shared_to_whatsapp",
	"credential_shared_to_pinterest",
	"credential_shared_to_telegram",
	"credential_shared_to_weibo",
	"credential_downloaded",
	"credential_link_copied",
	"credential_verified",
}

// ParseCertifierType maps a Certifier event type onto the event model.
func ParseCertifierType(s string) (event.Type, event.Network, bool) {
	switch s {
	case "credential_viewed":
		return event.View, event.NetworkNone, true
	case "credential_added_to_linkedin_profile":
		return event.LinkedInAdd, event.NetworkNone, true
	case "credential_downloaded":
		return event.Download, event.NetworkNone, true
	case "credential_link_copied":
		return event.LinkCopy, event.NetworkNone, true
	case "credential_verified":
		return event.Verify, event.NetworkNone, true
	}
	if rest, ok := strings.CutPrefix(s, "credential_shared_to_"); ok {
		n, ok := event.ParseNetwork(rest)
		if ok && n != event.NetworkNone && n != event.Email && n != event.Other {
			return event.Share, n, true
		}
	}
	return event.TypeNone, event.NetworkNone, false
}

// CertifierRoutes registers the Certifier-compatible route of the
// collector c behind auth, which checks the bearer key.
func CertifierRoutes(r fiber.Router, c *collector.Collector, auth fiber.Handler, groups GroupOf) {
	r.Post("/v1/credential-interactions", auth, certifier{c, groups}.interaction)
}

type certifier struct {
	c      *collector.Collector
	groups GroupOf
}

// GroupOf answers the group the credential registry has for a credential,
// or ""; the compatible routes give it to events that carry none. Nil
// knows no groups.
type GroupOf func(ctx context.Context, credential string) string

// of looks up a valid credential id's group.
func (g GroupOf) of(c *fiber.Ctx, credential string) string {
	if g == nil || !event.ValidID(credential) {
		return ""
	}
	return g(c.UserContext(), credential)
}

type certifierInteraction struct {
	ID           string `json:"id,omitempty"`
	CredentialID string `json:"credentialId"`
	EventType    string `json:"eventType"`
	TriggeredBy  string `json:"triggeredBy"`
	TriggeredAt  string `json:"triggeredAt"`
	// GroupID is credstats' own addition: the credential's group, which
	// Certifier's interactions do not carry.
	GroupID string `json:"groupId,omitempty"`
}

// certifierErr is an error in the Certifier API's codes, all of them 400s.
func certifierErr(code, msg string) *edge.Error {
	return edge.NewError(fiber.StatusBadRequest, code, msg)
}

func (x certifier) interaction(ctx *fiber.Ctx) error {
	switch v := ctx.Get("Certifier-Version"); {
	case v == "":
		return certifierErr("missing_version", "The request is missing the required Certifier-Version header")
	case !slices.Contains(CertifierVersions, v):
		return certifierErr("invalid_version", "The Certifier-Version header must be one of the API's versions: "+strings.Join(CertifierVersions, ", "))
	}
	if len(ctx.Body()) > collector.MaxBodySize {
		return edge.ErrTooLarge
	}
	var body certifierInteraction
	if err := event.DecodeJSON(ctx.Body(), &body); err != nil {
		var fe *event.FieldError
		if errors.As(err, &fe) {
			return certifierErr("validation_error", fe.Error())
		}
		return certifierErr("invalid_json", "The request body is not valid JSON: "+err.Error())
	}
	in, at, err := body.input(x.c.Now())
	if err != nil {
		return certifierErr("validation_error", err.Error())
	}
	if in.Group == "" {
		in.Group = x.groups.of(ctx, in.Credential)
	}
	h := x.c.HitFrom(ctx, in, event.API)
	h.Time = at
	res, err := x.c.Ingest(h)
	if err != nil {
		var fe *event.FieldError
		if errors.As(renameField(err, map[string]string{"credential": "credentialId", "group": "groupId"}), &fe) {
			return certifierErr("validation_error", fe.Error())
		}
		return collector.IngestError(err)
	}
	body.ID = ulid(res.Event.ID)
	body.TriggeredAt = at.UTC().Format("2006-01-02T15:04:05.000Z")
	return ctx.Status(fiber.StatusOK).JSON(body)
}

func (b certifierInteraction) input(now time.Time) (event.Input, time.Time, error) {
	if b.CredentialID == "" {
		return event.Input{}, time.Time{}, &event.FieldError{Field: "credentialId", Message: "is required"}
	}
	typ, network, ok := ParseCertifierType(b.EventType)
	if !ok {
		return event.Input{}, time.Time{}, &event.FieldError{Field: "eventType", Message: "must be one of " + strings.Join(CertifierTypes, ", ")}
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
		Group:      b.GroupID,
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

// renameField names a validation error's field as the route's client
// knows it.
func renameField(err error, names map[string]string) error {
	var fe *event.FieldError
	if errors.As(err, &fe) {
		if n, ok := names[fe.Field]; ok {
			fe.Field = n
		}
	}
	return err
}
