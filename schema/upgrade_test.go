package schema_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/aggregator/counters"
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
	conn := migratedTo(t, 12)
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

// TestCredentialDailyRebuildKeepsItsRows: migration 015 rebuilds
// credential_daily with smaller granules; the counters it held before are
// the counters after, and its view feeds the new table.
func TestCredentialDailyRebuildKeepsItsRows(t *testing.T) {
	ctx := context.Background()
	conn := migratedTo(t, 14)
	insert := func(from, n int) {
		t.Helper()
		err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor, url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)
		 SELECT generateUUIDv4(), now() - number * 3600, concat('c', toString(number %% 7)), 'g1',
		 ['view', 'view', 'share', 'verify'][number %% 4 + 1], if(number %% 4 = 2, 'linkedin', ''), ['guest', 'recipient'][number %% 3 %% 2 + 1],
		 'beacon', (number %% 50) * (number %% 5 != 0), 'certs.example.org', '/', '', '', '', '', '', 'desktop', '' FROM numbers(%d, %d)`, from, n))
		if err != nil {
			t.Fatal(err)
		}
	}
	insert(0, 5000)
	ids := []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "nobody"}
	s := counters.Store{Conn: conn}
	before, err := s.ManyStats(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if before["c1"].Views == 0 || before["c1"].UniqueViewers == 0 || before["c1"].Shares["linkedin"] == 0 {
		t.Fatalf("the events did not reach credential_daily: %+v", before["c1"])
	}
	if _, _, err := schema.Migrate(ctx, conn, schema.Options{}); err != nil {
		t.Fatal(err)
	}
	after, err := s.ManyStats(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("counters changed by the rebuild:\nbefore %+v\nafter  %+v", before, after)
	}
	var ddl string
	if err := conn.QueryRow(ctx, "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'credential_daily'").Scan(&ddl); err != nil || !strings.Contains(ddl, "index_granularity = 1024") {
		t.Errorf("credential_daily after 015: %q, %v", ddl, err)
	}
	var left uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('credential_daily_old', 'credential_daily_next')").Scan(&left); err != nil || left != 0 {
		t.Errorf("%d tables of the rebuild left (%v)", left, err)
	}
	insert(5000, 14) // 5006 and 5013 are c1's
	fed, err := s.CredentialStats(ctx, "c1")
	if err != nil || fed.Views+fed.Verifications+fed.Shares["linkedin"] == after["c1"].Views+after["c1"].Verifications+after["c1"].Shares["linkedin"] {
		t.Errorf("the view does not feed the rebuilt table: %+v, %v", fed, err)
	}
}

// migratedTo returns a new database migrated up to that version.
func migratedTo(t *testing.T, version int) driver.Conn {
	t.Helper()
	ctx := context.Background()
	dsn := chtest.Name(t)
	if err := store.EnsureDatabase(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	conn := chtest.Open(t, dsn)
	if _, _, err := schema.Migrate(ctx, conn, schema.Options{Upto: version}); err != nil {
		t.Fatal(err)
	}
	return conn
}
