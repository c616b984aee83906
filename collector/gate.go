package collector

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/dchest/siphash"
	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/internal/apierr"
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
	key      saltKey // per process: the limiters' keys never leave memory
	now      func() time.Time
	refused  func()
}

// An address may fail to authenticate (an unknown API key, shared link or
// session) this often, after a first burst.
const (
	authFailureRate  = 1.0 / 6 // one every six seconds, ten a minute
	authFailureBurst = 20
)

// NewGate returns a gate. A rate of zero or less sets no limit; now may be
// nil for the system clock.
func NewGate(trustedProxies []string, rate float64, burst int, now func() time.Time) (*Gate, error) {
	p, err := parseProxies(trustedProxies)
	if err != nil {
		return nil, err
	}
	g := &Gate{proxies: p, now: now, refused: func() {}}
	if g.now == nil {
		g.now = time.Now
	}
	if rate > 0 {
		g.limiter = newLimiter(rate, burst, 100_000)
	}
	g.failures = newLimiter(authFailureRate, authFailureBurst, 100_000)
	var b [16]byte
	rand.Read(b[:])
	g.key = saltKey{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])}
	return g, nil
}

// ClientIP is the client's address for a request from peer, forwardedFor
// being every X-Forwarded-For line joined with commas.
func (g *Gate) ClientIP(peer netip.Addr, forwardedFor string) netip.Addr {
	return g.proxies.clientIP(peer, forwardedFor)
}

// AuthBlocked reports whether the request's client has used up its failed
// authentications.
func (g *Gate) AuthBlocked(c *fiber.Ctx) bool {
	return !g.failures.has(hashIP(g.key, g.clientIP(c)), g.now())
}

// AuthFailed counts a failed authentication against the request's client.
func (g *Gate) AuthFailed(c *fiber.Ctx) {
	g.failures.allow(hashIP(g.key, g.clientIP(c)), g.now())
}

// Allow takes one request from ip's rate budget.
func (g *Gate) Allow(ip netip.Addr) bool {
	if g.limiter == nil {
		return true
	}
	ok := g.limiter.allow(hashIP(g.key, ip), g.now())
	if !ok {
		g.refused()
	}
	return ok
}

// Limited wraps a public route's handler so that a client over its rate
// gets 429 instead.
func (g *Gate) Limited(h fiber.Handler) fiber.Handler {
	return func(ctx *fiber.Ctx) error {
		if !g.Allow(g.clientIP(ctx)) {
			return apierr.ErrRateLimited
		}
		return h(ctx)
	}
}

func hashIP(k saltKey, ip netip.Addr) uint64 {
	a := identity(ip).As16()
	return siphash.Hash(k[0], k[1], a[:])
}

func (g *Gate) clientIP(ctx *fiber.Ctx) netip.Addr {
	peer, _ := netip.AddrFromSlice(ctx.Context().RemoteIP())
	if len(g.proxies) == 0 {
		return peer.Unmap()
	}
	lines := ctx.Request().Header.PeekAll(fiber.HeaderXForwardedFor)
	if len(lines) == 1 {
		return g.ClientIP(peer, string(lines[0]))
	}
	return g.ClientIP(peer, string(bytes.Join(lines, []byte{','})))
}
