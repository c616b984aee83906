package edge

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"time"
	"unsafe"

	"github.com/dchest/siphash"
	"github.com/gofiber/fiber/v2"
)

// Gate admits requests to the public routes: it finds each request's
// client address and holds every address to its rate. The collector has
// one; a process that only aggregates makes its own.
type Gate struct {
	proxies proxies
	limiter *limiter // nil: no limit
	// failures holds back addresses that fail to authenticate: every
	// failure takes a token, and an address without one is refused before
	// its attempt costs a lookup.
	failures *limiter
	key      [2]uint64 // per process: the limiters' keys never leave memory
	now      func() time.Time
	refused  func()
}

// GateOptions configure a Gate.
type GateOptions struct {
	TrustedProxies []string // addresses or CIDR ranges allowed to set X-Forwarded-For
	// Rate is the requests a second one client address may send, with
	// bursts up to Burst; zero or less sets no limit.
	Rate  float64
	Burst int
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Refused, when set, is called for every request the rate limit
	// refuses, to count it.
	Refused func()
}

// An address may fail to authenticate (an unknown API key, shared link or
// session) this often, after a first burst.
const (
	authFailureRate  = 1.0 / 6 // one every six seconds, ten a minute
	authFailureBurst = 20
)

// NewGate returns a gate, or an error naming the first trusted proxy that
// is not an address or CIDR range.
func NewGate(o GateOptions) (*Gate, error) {
	p, err := parseProxies(o.TrustedProxies)
	if err != nil {
		return nil, err
	}
	g := &Gate{proxies: p, now: o.Now, refused: o.Refused}
	if g.now == nil {
		g.now = time.Now
	}
	if g.refused == nil {
		g.refused = func() {}
	}
	if o.Rate > 0 {
		g.limiter = newLimiter(o.Rate, o.Burst, 100_000)
	}
	g.failures = newLimiter(authFailureRate, authFailureBurst, 100_000)
	var b [16]byte
	rand.Read(b[:])
	g.key = [2]uint64{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])}
	return g, nil
}

// ClientIP is the client's address for a request from peer, forwardedFor
// being every X-Forwarded-For line joined with commas.
func (g *Gate) ClientIP(peer netip.Addr, forwardedFor string) netip.Addr {
	return g.proxies.clientIP(peer, forwardedFor)
}

// Client is the client's address of a request: its peer, or what the
// trusted proxies say in X-Forwarded-For.
func (g *Gate) Client(ctx *fiber.Ctx) netip.Addr {
	peer, _ := netip.AddrFromSlice(ctx.Context().RemoteIP())
	if len(g.proxies) == 0 {
		return peer.Unmap()
	}
	lines := ctx.Request().Header.PeekAll(fiber.HeaderXForwardedFor)
	switch len(lines) {
	case 0:
		return g.ClientIP(peer, "")
	case 1:
		// A view of Fiber's buffer, not a copy: clientIP only parses it,
		// and the address it returns holds no part of it.
		return g.ClientIP(peer, unsafe.String(unsafe.SliceData(lines[0]), len(lines[0])))
	}
	return g.ClientIP(peer, string(bytes.Join(lines, []byte{','})))
}

// AuthBlocked reports whether the request's client has used up its failed
// authentications.
func (g *Gate) AuthBlocked(c *fiber.Ctx) bool {
	return !g.failures.has(g.hash(g.Client(c)), g.now())
}

// AuthFailed counts a failed authentication against the request's client.
func (g *Gate) AuthFailed(c *fiber.Ctx) {
	g.failures.allow(g.hash(g.Client(c)), g.now())
}

// Allow takes one request from ip's rate budget.
func (g *Gate) Allow(ip netip.Addr) bool {
	if g.limiter == nil {
		return true
	}
	ok := g.limiter.allow(g.hash(ip), g.now())
	if !ok {
		g.refused()
	}
	return ok
}

// Limited wraps a public route's handler so that a client over its rate
// gets 429 instead.
func (g *Gate) Limited(h fiber.Handler) fiber.Handler {
	return func(ctx *fiber.Ctx) error {
		if g.limiter != nil && !g.Allow(g.Client(ctx)) {
			return ErrRateLimited
		}
		return h(ctx)
	}
}

// LimitedClient is Limited for a handler that also needs the client's
// address, which it then gets without working it out a second time.
func (g *Gate) LimitedClient(h func(ctx *fiber.Ctx, client netip.Addr) error) fiber.Handler {
	return func(ctx *fiber.Ctx) error {
		client := g.Client(ctx)
		if !g.Allow(client) {
			return ErrRateLimited
		}
		return h(ctx, client)
	}
}

func (g *Gate) hash(ip netip.Addr) uint64 {
	a := Identity(ip).As16()
	return siphash.Hash(g.key[0], g.key[1], a[:])
}
