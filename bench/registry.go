package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/aggregator/counters"
	"github.com/credstats/credstats/aggregator/query"
)

// registry measures what the credential registry costs and saves on a
// seeded database: the top credentials by name against the same by id
// (the join), and the counters of a listing page's 500 credentials in one
// call against 500 calls, one each, as a page without it would make.
func (b *bench) registry(conn driver.Conn, label string) error {
	ctx := context.Background()
	// The seed's credentials are cred-0 to cred-99999; each gets a name,
	// a group name and an issue date.
	if err := conn.Exec(ctx, "TRUNCATE TABLE credentials"); err != nil {
		return err
	}
	err := conn.Exec(ctx, `INSERT INTO credentials (id, name, recipient_name, group_id, group_name, organization, issued_at, expires_at, status, version)
		SELECT concat('cred-', toString(number)), concat('Credential ', toString(number % 5000)), concat('Recipient ', toString(number)),
			concat('program-', toString(number % 50)), concat('Program ', toString(number % 50)), '',
			now() - (number % (60 * 86400)), toDateTime(0), 'valid', 1
		FROM numbers(100000)`)
	if err != nil {
		return fmt.Errorf("cannot seed the registry: %w", err)
	}
	engine := query.NewEngine(conn, time.Now)
	top := func(dim string) query.Query {
		return query.Query{Metrics: []string{"views", "shares"}, Dimensions: []string{dim}, DateRange: query.DateRange{Preset: "30d"},
			OrderBy: []query.Order{{Field: "views", Desc: true}}, Limit: 10}
	}
	named50, named95, err := timeIt(func() error { _, err := engine.Run(ctx, top("credential_name")); return err })
	if err != nil {
		return fmt.Errorf("top credentials by name: %w", err)
	}
	id50, id95, err := timeIt(func() error { _, err := engine.Run(ctx, top("credential")); return err })
	if err != nil {
		return fmt.Errorf("top credentials by id: %w", err)
	}
	section := "registry " + label
	b.add(Row{Section: section, Metric: "top credentials with names p50 (baseline: by id)", Value: ms(named50), Unit: "ms", Baseline: ms(id50)}, true)
	b.add(Row{Section: section, Metric: "top credentials with names p95 (baseline: by id)", Value: ms(named95), Unit: "ms", Baseline: ms(id95)}, true)

	ids := make([]string, counters.MaxMany)
	for i := range ids {
		ids[i] = fmt.Sprintf("cred-%d", i*197)
	}
	store := counters.Store{Conn: conn}
	many50, _, err := timeIt(func() error { _, err := store.ManyStats(ctx, ids); return err })
	if err != nil {
		return fmt.Errorf("counters of 500 credentials: %w", err)
	}
	start := time.Now()
	for _, id := range ids {
		if _, err := store.CredentialStats(ctx, id); err != nil {
			return fmt.Errorf("counters of one credential: %w", err)
		}
	}
	b.add(Row{Section: section, Metric: "counters of 500 credentials, one call p50 (baseline: 500 calls)", Value: ms(many50), Unit: "ms", Baseline: ms(time.Since(start))}, true)
	return nil
}
