package schema_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/internal/testutil/chtest"
	"github.com/credstats/credstats/schema"
)

// TestSingleTenantUpgradeNeedsNoAction: a deployment of schema 12, with
// a key, a shared link and events, upgrades to organizations and keeps
// working as before: its key sees everything, its link opens, and the
// pages' hosts of its events are known.
func TestSingleTenantUpgradeNeedsNoAction(t *testing.T) {
	ctx := context.Background()
	dsn := chtest.Name(t)
	if err := store.EnsureDatabase(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	conn := chtest.Open(t, dsn)
	if _, _, err := schema.Migrate(ctx, conn, schema.Options{Upto: 12}); err != nil {
		t.Fatal(err)
	}
	token := "csk_0123456789abcdef_" + strings.Repeat("ab", 24)
	sum := sha256.Sum256([]byte(token))
	for _, sql := range []string{
		`INSERT INTO api_keys (id, name, hash, scopes, created_at, revoked_at, version) SELECT '0123456789abcdef', 'old', '` + hex.EncodeToString(sum[:]) + `', ['stats:read'], now(), toDateTime(0), 1`,
		`INSERT INTO share_links (id, name, scope, value, created_at, revoked_at, version) SELECT 'l1', 'partner', 'group', 'g1', now(), toDateTime(0), 1`,
		`INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor, url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)
		 SELECT generateUUIDv4(), now() - number, concat('c', toString(number % 3)), 'g1', 'view', '', 'guest', 'beacon', number + 1, 'certs.example.org', '/', '', '', '', '', '', 'desktop', '' FROM numbers(30)`,
	} {
		if err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := schema.Migrate(ctx, conn, schema.Options{}); err != nil {
		t.Fatal(err)
	}
	k, err := auth.NewKeys(conn, 0).Authenticate(ctx, token, auth.StatsRead)
	if err != nil || k.Organization != "" {
		t.Errorf("the old key after the upgrade: %+v, %v", k, err)
	}
	links, err := auth.NewLinks(conn, []byte(strings.Repeat("s", 32)), 0).List(ctx)
	if err != nil || len(links) != 1 || links[0].Scope != (auth.Scope{Kind: auth.ScopeGroup, Value: "g1"}) {
		t.Errorf("the old link after the upgrade: %+v, %v", links, err)
	}
	var hosts uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM credential_hosts WHERE url_host = 'certs.example.org'").Scan(&hosts); err != nil || hosts != 3 {
		t.Errorf("%d credentials known on their host (%v), want 3", hosts, err)
	}
	r, err := query.NewEngine(conn, nil).Run(ctx, query.Query{Metrics: []string{"views"}, DateRange: query.DateRange{Preset: "all"}})
	if err != nil || len(r.Results) != 1 || r.Results[0].Metrics[0] != 30 {
		t.Errorf("views after the upgrade: %+v, %v", r.Results, err)
	}
}
