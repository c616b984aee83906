package collector

import (
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
	key     saltKey  // per process: the limiter's keys never leave memory
	now     func() time.Time
	refused func()
}

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
	var b [16]byte
	rand.Read(b[:])
	g.key = saltKey{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])}
	return g, nil
}

// ClientIP is the client's address for a request from peer.
func (g *Gate) ClientIP(peer netip.Addr, forwardedFor string) netip.Addr {
	return g.proxies.clientIP(peer, forwardedFor)
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
	a := ip.As16()
	return siphash.Hash(k[0], k[1], a[:])
}

func (g *Gate) clientIP(ctx *fiber.Ctx) netip.Addr {
	peer, _ := netip.AddrFromSlice(ctx.Context().RemoteIP())
	return g.ClientIP(peer, ctx.Get(fiber.HeaderXForwardedFor))
}
