package schema_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credstats/credstats/internal/testutil/chtest"
	"github.com/credstats/credstats/schema"
)

func TestMigrateIsIdempotentAndRecordsTheVersion(t *testing.T) {
	ctx := context.Background()
	_, conn := chtest.New(t) // migrates once
	st, err := schema.Current(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != schema.Latest() || !st.Ready() {
		t.Fatalf("state %+v after migrating, want version %d clean", st, schema.Latest())
	}
	from, to, err := schema.Migrate(ctx, conn, schema.Options{})
	if err != nil || from != to || to != schema.Latest() {
		t.Fatalf("second run: %d -> %d, %v; want no change", from, to, err)
	}
	for _, table := range []string{"events", "credential_daily", "credential_daily_mv", "api_keys"} {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ?", table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: count %d, %v", table, n, err)
		}
	}
}

func TestMigrateRefusesADirtyVersion(t *testing.T) {
	ctx := context.Background()
	_, conn := chtest.New(t)
	// The record a migration leaves when it stops half-way through version 2.
	if err := conn.Exec(ctx, "INSERT INTO schema_migrations (version, dirty, applied_at, seq) SELECT 2, 1, now(), ?", uint64(time.Now().UnixNano())); err != nil {
		t.Fatal(err)
	}
	_, _, err := schema.Migrate(ctx, conn, schema.Options{})
	if err == nil || !strings.Contains(err.Error(), "dirty") {
		t.Fatalf("migrate on a dirty version: %v, want a refusal", err)
	}
	if _, to, err := schema.Migrate(ctx, conn, schema.Options{Force: true}); err != nil || to != schema.Latest() {
		t.Fatalf("forced migrate: to %d, %v", to, err)
	}
	st, _ := schema.Current(ctx, conn)
	if st.Dirty || st.Version != schema.Latest() {
		t.Fatalf("after forced migrate: %+v", st)
	}
}

func TestFeaturesByServerVersion(t *testing.T) {
	for _, m := range schema.Migrations() {
		for _, f := range []schema.Features{schema.FeaturesFor(18, 16), schema.FeaturesFor(25, 3)} {
			stmts, err := m.Statements(f)
			if err != nil || len(stmts) == 0 {
				t.Fatalf("%s: %d statements, %v", m.Name, len(stmts), err)
			}
		}
	}
	if d := schema.FeaturesFor(18, 16).Dict; d != "String" {
		t.Errorf("18.16 gets %s, want String", d)
	}
	if d := schema.FeaturesFor(24, 8).Dict; d != "LowCardinality(String)" {
		t.Errorf("24.8 gets %s", d)
	}
}

func TestMigrateFillsAHoleBelowTheHighestVersion(t *testing.T) {
	ctx := context.Background()
	_, conn := chtest.New(t)
	// A database migrated by a branch that had a higher migration but not
	// this one: its record of version 2 is gone and its rollup too.
	if err := conn.Exec(ctx, "ALTER TABLE schema_migrations DELETE WHERE version = 2"); err != nil {
		t.Fatal(err)
	}
	chtest.WaitMutations(t, conn)
	if err := conn.Exec(ctx, "DROP TABLE credential_daily_mv"); err != nil {
		t.Fatal(err)
	}
	st, _ := schema.Current(ctx, conn)
	if st.Ready() || !slices.Contains(st.Missing, 2) {
		t.Fatalf("state %+v: want version 2 missing", st)
	}
	if _, _, err := schema.Migrate(ctx, conn, schema.Options{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := schema.Current(ctx, conn); !st.Ready() {
		t.Fatalf("after migrate: %+v", st)
	}
	var n uint64
	conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'credential_daily_mv'").Scan(&n)
	if n != 1 {
		t.Fatal("the missing migration was not applied")
	}
}
