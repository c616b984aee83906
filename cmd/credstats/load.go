package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/credstats/credstats/cmd/credstats/config"
	"github.com/credstats/credstats/internal/loadgen"
)

// load sends realistic event traffic to a collector and prints what it
// measured. Send it to a collector that trusts this machine as a proxy
// (--trusted-proxies) so its many client addresses count as such.
func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/api/event", "the collector's event URL")
	conns := fs.Int("connections", 64, "concurrent requests")
	rate := fs.Float64("rate", 0, "requests a second at a fixed arrival rate (0: as fast as the connections go)")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	requests := fs.Int64("requests", 0, "stop after this many requests (0: no limit)")
	creds := fs.Int("credentials", 100_000, "distinct credentials (Zipf-distributed)")
	clients := fs.Int("clients", 50_000, "distinct client addresses, sent as X-Forwarded-For (-1: none)")
	dups := fs.Float64("duplicates", 0.1, "share of requests that repeat an earlier one")
	bots := fs.Float64("bots", 0.02, "share of requests from a crawler")
	unique := fs.Bool("unique", false, "give every event its own credential id and record the acknowledged ones")
	ackedFile := fs.String("acked-file", "", "with --unique: write the acknowledged ids here, one a line")
	seed := fs.Uint64("seed", 0, "makes a run repeatable: the same seed sends the same events (0: a random one, printed)")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "sending to %s for %s with %d connections...\n", *url, *duration, *conns)
	res, err := loadgen.Run(ctx, loadgen.Options{
		URL: *url, Connections: *conns, Rate: *rate, Duration: *duration, Requests: *requests,
		Credentials: *creds, Clients: *clients, Duplicates: *dups, Bots: *bots, Unique: *unique, Seed: *seed,
	})
	if err != nil {
		return err
	}
	var codes []string
	for _, code := range slices.Sorted(maps.Keys(res.Status)) {
		codes = append(codes, fmt.Sprintf("%d: %d", code, res.Status[code]))
	}
	fmt.Printf("seed       %d (--seed %d sends the same events again)\n", res.Seed, res.Seed)
	fmt.Printf("requests   %d in %.1fs (%d transport errors)\n", res.Requests, res.Elapsed.Seconds(), res.Errors)
	fmt.Printf("throughput %.0f req/s\n", res.Throughput())
	fmt.Printf("statuses   %s\n", strings.Join(codes, ", "))
	fmt.Printf("latency    p50 %s  p99 %s  p99.9 %s  max %s\n", res.Percentile(50), res.Percentile(99), res.Percentile(99.9), res.Percentile(100))
	if *ackedFile != "" {
		if err := os.WriteFile(*ackedFile, []byte(strings.Join(res.Acked, "\n")+"\n"), 0o644); err != nil {
			return fmt.Errorf("cannot write acknowledged ids: %w", err)
		}
	}
	return nil
}
