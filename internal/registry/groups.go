package registry

import (
	"context"
	"time"

	"github.com/credstats/credstats/internal/ttlcache"
)

// Groups answers the group of a registered credential, for the routes
// whose events do not carry one. Answers are cached, none too; a lookup
// that fails answers no group (the event is taken all the same) and is
// not asked again for a few seconds.
type Groups struct {
	store   Store
	cache   *ttlcache.Cache[string, string]
	ttl     time.Duration
	timeout time.Duration
}

// NewGroups caches up to size answers for ttl each.
func NewGroups(s Store, size int, ttl time.Duration) *Groups {
	return &Groups{store: s, cache: ttlcache.New[string, string](size, s.Now), ttl: ttl, timeout: 500 * time.Millisecond}
}

// Of returns the credential's group, or "" when the registry has none.
func (g *Groups) Of(ctx context.Context, credential string) string {
	if group, ok := g.cache.Get(credential); ok {
		return group
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	entries, err := g.store.Get(ctx, []string{credential})
	if err != nil {
		g.cache.Add(credential, "", min(g.ttl, 5*time.Second))
		return ""
	}
	group := entries[credential].Group
	g.cache.Add(credential, group, g.ttl)
	return group
}

// Forget drops what is cached of a credential, after it is recorded anew.
func (g *Groups) Forget(credential string) { g.cache.Remove(credential) }
