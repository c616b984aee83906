package lifecycle_test

import (
	"maps"
	"net"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/aggregator/counters"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/testutil/chtest"
	"github.com/credstats/credstats/lifecycle"
)

// TestBackupAndRestore runs the README's operator path on the real server:
// scripts/backup.sh, a fresh database migrated by credstats, and
// scripts/restore.sh; the restored database answers the same numbers,
// including the counts of months the retention dropped from the raw
// events, and keeps counting new events.
func TestBackupAndRestore(t *testing.T) {
	if _, err := exec.LookPath("clickhouse-client"); err != nil {
		t.Skip("clickhouse-client is not installed: `make test` installs it with the server")
	}
	srcDSN, src := chtest.New(t)
	now := time.Now().UTC()
	old := time.Date(now.Year()-3, 3, 10, 9, 0, 0, 0, time.UTC)
	put(t, src,
		ev("cred-1", "g", event.View, 0, old, 1),
		ev("cred-1", "g", event.Share, event.WhatsApp, now.Add(-time.Hour), 1),
		ev("cred-1", "g", event.View, 0, now.Add(-time.Hour), 2),
		ev("cred-2", "h", event.View, 0, now.Add(-time.Hour), 3),
	)
	im := importer(now)
	im.Conn = src
	if _, err := im.Import(ctx, strings.NewReader(eventsFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := lifecycle.DropOld(ctx, src, 25, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := auth.NewKeys(src, 0).Create(ctx, "ops", []string{auth.StatsRead}); err != nil {
		t.Fatal(err)
	}
	answers := func(conn driver.Conn) map[string]any {
		out := map[string]any{}
		for k, v := range sums(t, conn) {
			out[k] = v
		}
		for _, c := range []string{"cred-1", "cred-2"} {
			out["stats "+c] = stats(t, conn, c)
		}
		out["query"] = runQuery(t, conn, now, `{"metrics": ["views", "unique_viewers", "shares"], "dimensions": ["credential", "source"], "date_range": "all", "order_by": [["credential", "asc"], ["source", "asc"]]}`).Results
		out["keys"] = count(t, conn, "SELECT count() FROM api_keys")
		return out
	}
	want := answers(src)

	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(chtest.HostPort())
	client := []string{"--host", host, "--port", port}
	script := func(name, db string) {
		t.Helper()
		cmd := exec.Command(filepath.Join("..", "scripts", name), append([]string{dir}, client...)...)
		cmd.Env = append(cmd.Environ(), "CREDSTATS_DB="+db)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	script("backup.sh", dbName(srcDSN))
	dstDSN, dst := chtest.New(t)
	script("restore.sh", dbName(dstDSN))

	got := answers(dst)
	if !reflect.DeepEqual(got, want) {
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if !reflect.DeepEqual(got[k], want[k]) {
				t.Errorf("%s: restored %+v, backed up %+v", k, got[k], want[k])
			}
		}
	}
	if n := count(t, dst, "SELECT count() FROM events WHERE time < ?", now.AddDate(-2, 0, 0)); n != 0 {
		t.Errorf("%d raw events past the retention came back", n)
	}
	// The views are attached again: new events are counted.
	put(t, dst, ev("cred-2", "h", event.View, 0, now, 5))
	if st := stats(t, dst, "cred-2"); st.Views != want["stats cred-2"].(counters.Stats).Views+1 {
		t.Errorf("a new view after the restore: %d views", st.Views)
	}
}

func dbName(dsn string) string { return dsn[strings.LastIndexByte(dsn, '/')+1:] }
