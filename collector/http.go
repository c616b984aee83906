package collector

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/internal/edge"
	"github.com/credstats/credstats/internal/event"
)

// MaxBodySize is the largest event body taken; no event needs more.
const MaxBodySize = 4 << 10

// DroppedHeader says why an accepted event does not count (Result.Dropped).
const DroppedHeader = "X-Credstats-Dropped"

// SetDropped says on the answer why an accepted event does not count, as
// every ingest route does.
func SetDropped(ctx *fiber.Ctx, res Result) {
	if why := res.Dropped(); why != "" {
		ctx.Set(DroppedHeader, why)
	}
}

// gif is the smallest transparent 1x1 GIF.
var gif = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// Routes registers the collector's own public ingest routes; the
// compatible APIs (package compat) register theirs beside them.
func (c *Collector) Routes(r fiber.Router) {
	r.Options("/api/event", preflight)
	r.Post("/api/event", c.gate.LimitedClient(c.postEvent))
	r.Get("/api/event.gif", c.gate.Limited(c.pixel))
}

// HitFrom makes a Hit of what a request says: in, with the request's
// client address (through the gate's trusted proxies) and user agent.
func (c *Collector) HitFrom(ctx *fiber.Ctx, in event.Input, source event.Source) Hit {
	return Hit{Input: in, Source: source, IP: c.gate.Client(ctx), UserAgent: ctx.Get(fiber.HeaderUserAgent)}
}

func preflight(ctx *fiber.Ctx) error {
	ctx.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	ctx.Set(fiber.HeaderAccessControlAllowMethods, "POST")
	ctx.Set(fiber.HeaderAccessControlAllowHeaders, "Content-Type")
	ctx.Set(fiber.HeaderAccessControlMaxAge, "86400")
	return ctx.SendStatus(fiber.StatusNoContent)
}

// CheckBody refuses bodies over MaxBodySize and types other than JSON or
// plain text (what sendBeacon sends, to avoid a CORS preflight).
func CheckBody(ctx *fiber.Ctx) error { return checkBody(ctx, ctx.Body()) }

// checkBody is CheckBody for a body already taken: Fiber's Body looks at
// the request's encoding each time it is called.
func checkBody(ctx *fiber.Ctx, body []byte) error {
	if len(body) > MaxBodySize {
		return edge.ErrTooLarge
	}
	// The header's bytes, not Fiber's copy of them: they are only compared.
	ct, _, _ := bytes.Cut(ctx.Request().Header.ContentType(), []byte(";"))
	ct = bytes.TrimSpace(ct)
	if len(ct) == 0 || equalFoldASCII(ct, fiber.MIMETextPlain) || equalFoldASCII(ct, fiber.MIMEApplicationJSON) {
		return nil
	}
	return edge.Invalid("Content-Type must be application/json or text/plain")
}

// equalFoldASCII reports whether b is s, a lower-case ASCII string, in any
// ASCII case. Unlike bytes.EqualFold it matches no other letter that folds
// to an ASCII one (U+017F to 's'), as strings.ToLower did not either.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// requestBody is the request's body, decoded as Fiber's Body decodes it
// when it has a Content-Encoding. Without one (what beacons send) it is
// fasthttp's own buffer: Fiber's Body would copy every header name to find
// that out, and the body itself, where the decoders copy what they keep.
// It must not outlive the handler.
func requestBody(ctx *fiber.Ctx) []byte {
	if len(ctx.Request().Header.Peek(fiber.HeaderContentEncoding)) != 0 {
		return ctx.Body()
	}
	return ctx.Request().Body()
}

// The CORS header every beacon answer carries, in the canonical form
// fasthttp would otherwise work out on every request.
var (
	allowOriginKey = []byte(fiber.HeaderAccessControlAllowOrigin)
	allowAnyOrigin = []byte("*")
)

func (c *Collector) postEvent(ctx *fiber.Ctx, client netip.Addr) error {
	ctx.Response().Header.SetCanonical(allowOriginKey, allowAnyOrigin)
	body := requestBody(ctx)
	if err := checkBody(ctx, body); err != nil {
		return err
	}
	// Decode copies every string out of Fiber's reused buffer.
	in, err := event.Decode(body)
	if err != nil {
		return err
	}
	res, err := c.Ingest(Hit{Input: in, Source: event.Beacon, IP: client, UserAgent: ctx.Get(fiber.HeaderUserAgent)})
	if err != nil {
		return IngestError(err)
	}
	SetDropped(ctx, res)
	return ctx.SendStatus(fiber.StatusAccepted)
}

func (c *Collector) pixel(ctx *fiber.Ctx) error {
	in := event.Input{
		Credential: ctx.Query("credential"),
		Type:       ctx.Query("type"),
		Network:    ctx.Query("network"),
		Actor:      ctx.Query("actor"),
		Group:      ctx.Query("group"),
		URL:        ctx.Query("url"),
		Referrer:   ctx.Query("referrer"),
		Via:        ctx.Query("via"),
	}
	in = cloneInput(in)
	res, err := c.Ingest(c.HitFrom(ctx, in, event.Pixel))
	if err != nil {
		return IngestError(err)
	}
	SetDropped(ctx, res)
	ctx.Set(fiber.HeaderCacheControl, "no-store")
	ctx.Set(fiber.HeaderContentType, "image/gif")
	return ctx.Send(gif)
}

// IngestError turns the collector's own refusals of Ingest into API errors.
func IngestError(err error) error {
	if errors.Is(err, ErrQueueFull) {
		return edge.Unavailable(err.Error())
	}
	return err
}

// cloneInput copies strings that point into Fiber's reused buffers.
func cloneInput(in event.Input) event.Input {
	for _, s := range []*string{&in.Credential, &in.Type, &in.Network, &in.Actor, &in.Group, &in.URL, &in.Referrer, &in.Via} {
		*s = strings.Clone(*s)
	}
	return in
}
