// Package counters reads the public counters of one credential from
// ClickHouse, and keeps them in memory so that a popular credential costs
// one query every few seconds and is still answered while ClickHouse is
// down.
package counters

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/store"
)

// Counts are one credential's counters, bots left out.
type Counts struct {
	Views         uint64            `json:"views"`
	UniqueViewers uint64            `json:"unique_viewers"`
	Shares        map[string]uint64 `json:"shares"`
	Downloads     uint64            `json:"downloads"`
	LinkedInAdds  uint64            `json:"linkedin_adds"`
	LinkCopies    uint64            `json:"link_copies"`
	Verifications uint64            `json:"verifications"`
}

// Stats are a credential's counters in all and by actor.
type Stats struct {
	Counts
	ByActor map[string]*Counts `json:"by_actor"`
}

func newCounts() *Counts {
	c := &Counts{Shares: map[string]uint64{}}
	for _, n := range event.Networks() {
		c.Shares[n.String()] = 0
	}
	return c
}

func (c *Counts) add(typ, network string, n uint64) {
	switch typ {
	case "view":
		c.Views += n
	case "share":
		c.Shares[network] += n
	case "download":
		c.Downloads += n
	case "linkedin_add":
		c.LinkedInAdds += n
	case "link_copy":
		c.LinkCopies += n
	case "verify":
		c.Verifications += n
	}
}

// Store reads stats from ClickHouse.
type Store struct {
	Conn driver.Conn
}

// Unique viewers are counted from the daily visitor hashes, whose salt
// rotates daily: a person who comes back on another day counts again.
// Each row is read once and counted twice through the ARRAY JOIN: under
// its actor, and, for views, under an empty actor for the credential's unique
// viewers in all ('-' rows are dropped). PREWHERE decodes the visitor
// states of the credentials' granules only; ClickHouse 18.16 does not move
// a WHERE there when the query has an ARRAY JOIN.
func credentialCounts(in string) string {
	return `SELECT credential, actor_or_all, toString(type), toString(network), countMerge(events), uniqMerge(visitors)
FROM credential_daily
ARRAY JOIN [toString(actor), if(type = 'view', '', '-')] AS actor_or_all
PREWHERE credential IN (` + in + `)
GROUP BY credential, actor_or_all, type, network
HAVING actor_or_all != '-'`
}

// MaxMany bounds the credentials of one ManyStats call.
const MaxMany = 500

func newStats() Stats {
	return Stats{Counts: *newCounts(), ByActor: map[string]*Counts{"recipient": newCounts(), "guest": newCounts()}}
}

// CredentialStats returns the counters of one credential; a credential
// nobody has seen yet has zeros.
func (s Store) CredentialStats(ctx context.Context, credential string) (Stats, error) {
	m, err := s.ManyStats(ctx, []string{credential})
	return m[credential], err
}

// ManyStats returns the counters of up to MaxMany credentials in one
// query, zeros for those nobody has seen yet.
func (s Store) ManyStats(ctx context.Context, credentials []string) (map[string]Stats, error) {
	if len(credentials) > MaxMany {
		return nil, fmt.Errorf("at most %d credentials at a time", MaxMany)
	}
	out := make(map[string]Stats, len(credentials))
	for _, c := range credentials {
		out[c] = newStats()
	}
	if len(credentials) == 0 {
		return out, nil
	}
	in, args := store.In(credentials)
	rows, err := s.Conn.Query(ctx, credentialCounts(in), args...)
	if err != nil {
		return nil, fmt.Errorf("cannot query credential stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var credential, actor, typ, network string
		var n, viewers uint64
		if err := rows.Scan(&credential, &actor, &typ, &network, &n, &viewers); err != nil {
			return nil, fmt.Errorf("cannot read credential stats: %w", err)
		}
		st, ok := out[credential]
		if !ok {
			continue
		}
		if actor == "" {
			st.UniqueViewers = viewers
			out[credential] = st
			continue
		}
		st.add(typ, network, n)
		if a := st.ByActor[actor]; a != nil {
			a.add(typ, network, n)
			if typ == "view" {
				a.UniqueViewers = viewers
			}
		}
		out[credential] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read credential stats: %w", err)
	}
	return out, nil
}
