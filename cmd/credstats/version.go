package main

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/credstats/credstats/cmd/credstats/config"
	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/schema"
)

// version prints this build, the schema version it needs, and the
// ClickHouse server's version when it answers.
func version(args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	ch := clickhouseFlag(fs)
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	fmt.Printf("credstats %s\n", buildVersion())
	fmt.Printf("schema     %d\n", schema.Latest())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	server := "not reachable at " + *ch
	if conn, err := store.Open(ctx, *ch, store.Options{}); err == nil {
		if v, err := conn.ServerVersion(); err == nil {
			server = fmt.Sprintf("%d.%d.%d", v.Version.Major, v.Version.Minor, v.Version.Patch)
		}
		conn.Close()
	}
	fmt.Printf("clickhouse %s\n", server)
	return nil
}

// buildVersion is the module version, or the commit it was built from
// (with "+dirty" for uncommitted changes), as the Go toolchain records it.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	switch {
	case rev == "":
		return "(devel)"
	case dirty:
		return rev[:min(12, len(rev))] + "+dirty"
	}
	return rev[:min(12, len(rev))]
}
