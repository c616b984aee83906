// Command credstats is the whole service in one binary: serve, migrate and
// manage API keys.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/cmd/credstats/config"
	"github.com/credstats/credstats/cmd/credstats/server"
	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/dashboard"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/dedup"
	"github.com/credstats/credstats/internal/edge"
	"github.com/credstats/credstats/internal/spool"
	"github.com/credstats/credstats/internal/store"
	"github.com/credstats/credstats/lifecycle"
	"github.com/credstats/credstats/schema"
)

const usage = `credstats: engagement analytics for digital credentials

Usage:
  credstats serve        run everything: collector, aggregator, dashboard, demo page
  credstats collector    run only the collector (ingest, beacon, demo page)
  credstats aggregator   run only the aggregator (stats, query API, export, dashboard)
  credstats migrate      create or update the ClickHouse schema
  credstats keys         create, list and revoke API keys
  credstats links        create, list and revoke shared read-only dashboard links
  credstats orgs         create, list, rename and delete organizations (issuers served apart)
  credstats load         send realistic event traffic to a collector and measure it
  credstats erase        remove every trace of one credential (--credential ID)
  credstats import       store history from an NDJSON or CSV file, or badges.ninja counters
  credstats version      print this build, the schema version it needs and ClickHouse's (also --version)

Every flag can also be set as an environment variable: --clickhouse is
CREDSTATS_CLICKHOUSE. Run 'credstats COMMAND --help' for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "serve":
		err = serve(server.RoleAll, args)
	case server.RoleCollector, server.RoleAggregator:
		err = serve(cmd, args)
	case "migrate":
		err = migrate(args)
	case "keys":
		err = keysCmd(args)
	case "links":
		err = linksCmd(args)
	case "orgs":
		err = orgsCmd(args)
	case "load":
		err = load(args)
	case "erase":
		err = eraseCmd(args)
	case "import":
		err = importCmd(args)
	case "version", "--version", "-version":
		err = version(args)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "credstats: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "credstats %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

const defaultClickHouse = "clickhouse://127.0.0.1:9000/credstats"

func clickhouseFlag(fs *flag.FlagSet) *string {
	return fs.String("clickhouse", defaultClickHouse, "ClickHouse address, native protocol: clickhouse://[user:password@]host:port/database")
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

// serve runs the service in one of its roles: all of it (the serve
// command), or only the collector or the aggregator.
func serve(role string, args []string) error {
	name := "serve"
	if role != server.RoleAll {
		name = role
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address to listen on")
	ch := clickhouseFlag(fs)
	cluster := config.ClusterFlag(fs)
	dataDir := fs.String("data-dir", "data", "folder for the spool, the daily salts, the dedup snapshot and the dashboard secret")
	dashSecret := fs.String("dashboard-secret", "", "secret that signs dashboard sessions and shared links, 32+ characters (default: made once and kept in --data-dir)")
	var proxies config.StringList
	fs.Var(&proxies, "trusted-proxies", "addresses or CIDR ranges of proxies whose X-Forwarded-For is believed (repeatable or comma-separated)")
	rate := fs.Float64("rate-limit", 20, "events a second one client address may send to the public routes (negative: no limit)")
	burst := fs.Int("rate-burst", 200, "burst allowed above --rate-limit")
	useSpool := fs.Bool("spool", true, "keep every accepted event on disk until ClickHouse has it (false: in memory, lost on a crash)")
	spoolMax := fs.Int64("spool-max-bytes", spool.DefaultMaxBytes, "disk the spool's records may use before the collector answers 503 (the active segment holds up to 1 MiB of zeros more)")
	spoolNoSync := fs.Bool("spool-no-sync", false, "skip fsync in the spool (only to measure what durability costs)")
	queue := fs.Int("queue-size", collector.DefaultQueueSize, "with --spool=false: events waiting in memory before the collector answers 503")
	batch := fs.Int("batch-size", collector.DefaultBatchSize, "events written to ClickHouse in one insert at most")
	flush := fs.Duration("flush-interval", collector.DefaultFlushInterval, "longest an event waits before its batch is written (and before it shows in the stats)")
	dedupKeys := fs.Int("dedup-max-keys", dedup.DefaultMaxKeys, "live keys the 24-hour dedup set holds (about 30 bytes each)")
	queryTimeout := fs.Duration("query-timeout", query.DefaultTimeout, "time limit of each stats query")
	exportTimeout := fs.Duration("export-timeout", 5*time.Minute, "time limit of one export, from its query to its last byte; an export cut by it ends without its final chunk")
	statsTTL := fs.Duration("stats-cache-ttl", 5*time.Second, "how long public counters are answered from memory (negative: not cached)")
	statsStale := fs.Duration("stats-stale-for", 5*time.Minute, "how old the last good public counters may be to be answered while ClickHouse is unreachable")
	keyTTL := fs.Duration("key-cache-ttl", 10*time.Second, "how long a checked API key is trusted before it is checked again (revocations take this long)")
	shutdown := fs.Duration("shutdown-timeout", 10*time.Second, "how long SIGTERM waits for queued events to be written")
	retention := fs.String("retention", "forever", "how long raw events are kept, in whole months: 25mo, 2y or forever; older months are dropped, rollups keep their counts")
	autoMigrate := fs.Bool("migrate", true, "apply schema migrations once ClickHouse answers (the service starts and spools events without it)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	pprofListen := fs.String("pprof-listen", "", "serve Go's profiler on this address, e.g. 127.0.0.1:6060 (off when empty)")
	var errs []error
	if err := config.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		errs = append(errs, err)
	}
	log, err := newLogger(*logFormat, *logLevel)
	errs = append(errs, err)
	var check config.Check
	check.Add(*queue <= 0, "queue-size", "must be positive")
	check.Add(*spoolMax < 1<<20, "spool-max-bytes", "must be at least 1 MiB")
	check.Add(*batch <= 0, "batch-size", "must be positive")
	check.Add(*flush <= 0, "flush-interval", "must be positive")
	check.Add(*dedupKeys <= 0, "dedup-max-keys", "must be positive")
	check.Add(*burst <= 0, "rate-burst", "must be positive")
	check.Add(*rate == 0, "rate-limit", "must not be 0 (negative turns the limit off)")
	perr := edge.CheckTrustedProxies(proxies)
	check.Add(perr != nil, "trusted-proxies", "%v", perr)
	check.Add(*queryTimeout <= 0, "query-timeout", "must be positive")
	check.Add(*exportTimeout <= 0, "export-timeout", "must be positive")
	check.Add(*statsTTL == 0, "stats-cache-ttl", "must not be 0 (negative turns the cache off)")
	check.Add(*statsTTL > 0 && *statsStale < *statsTTL, "stats-stale-for", "must be at least --stats-cache-ttl")
	_, perr = store.ParseDSN(*ch)
	check.Add(perr != nil, "clickhouse", "%v", perr)
	keep, perr := lifecycle.ParseRetention(*retention)
	check.Add(perr != nil, "retention", "%v", perr)
	check.Add(*cluster != "" && !store.ValidClusterName(*cluster), "cluster", "%q: use letters, digits and '_'", *cluster)
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		check.Add(true, "listen", "%v", err)
	}
	secret, serr := auth.LoadSecret(*dashSecret, *dataDir)
	check.Add(serr != nil, "dashboard-secret", "%v", serr)
	errs = append(errs, check.Err())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bad configuration:\n%w", err)
	}
	if *keyTTL == 0 {
		*keyTTL = -1
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, server.Options{
		Role:          role,
		ClickHouse:    *ch,
		Cluster:       *cluster,
		Migrate:       *autoMigrate,
		QueryTimeout:  *queryTimeout,
		ExportTimeout: *exportTimeout,
		KeyCacheTTL:   *keyTTL,
		StatsCacheTTL: *statsTTL,
		StatsStaleFor: *statsStale,
		Retention:     keep,
		Logger:        log,
		Dashboard:     dashboard.Options{Secret: secret},
		Collector: collector.Options{
			DataDir:        *dataDir,
			TrustedProxies: proxies,
			NoSpool:        !*useSpool,
			SpoolMaxBytes:  *spoolMax,
			SpoolNoSync:    *spoolNoSync,
			QueueSize:      *queue,
			BatchSize:      *batch,
			FlushInterval:  *flush,
			DedupMaxKeys:   *dedupKeys,
			RateLimit:      *rate,
			RateBurst:      *burst,
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		srv.Shutdown(context.Background())
		return fmt.Errorf("cannot listen on %s: %w", *listen, err)
	}
	if *pprofListen != "" {
		go func() { log.Error("profiler stopped", "err", http.ListenAndServe(*pprofListen, nil)) }()
	}
	log.Info("credstats is serving", "listen", ln.Addr().String(), "demo", "http://"+displayAddr(ln.Addr())+"/demo")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err = <-served:
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdown.String())
	sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
	defer cancel()
	return errors.Join(err, srv.Shutdown(sctx))
}

func displayAddr(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if host == "::" || host == "0.0.0.0" || host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func migrate(args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	ch := clickhouseFlag(fs)
	cluster := config.ClusterFlag(fs)
	force := fs.Bool("force", false, "apply migrations over a dirty version, after repairing it by hand")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return runMigrations(context.Background(), *ch, *cluster, *force, log)
}

func runMigrations(ctx context.Context, dsn, cluster string, force bool, log *slog.Logger) error {
	if err := store.EnsureClusterDatabase(ctx, dsn, cluster); err != nil {
		return err
	}
	conn, err := store.Open(ctx, dsn, store.Options{Cluster: cluster != ""})
	if err != nil {
		return err
	}
	defer conn.Close()
	from, to, err := schema.Migrate(ctx, conn, schema.Options{Logger: log, Force: force, Cluster: cluster, DSN: dsn})
	if err != nil {
		return err
	}
	log.Info("schema is current", "from", from, "to", to)
	return nil
}

func keysCmd(args []string) error {
	keysUsage := `Usage:
  credstats keys create --name NAME --scope SCOPE [--scope SCOPE] [--org ID]
  credstats keys list
  credstats keys revoke ID

Scopes: ` + strings.Join(auth.KeyScopes, ", ")
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	ch := clickhouseFlag(fs)
	name := fs.String("name", "", "a name that says who uses the key")
	org := fs.String("org", "", "the organization whose events alone the key sees (credstats orgs list); none: everything")
	var scopes config.StringList
	fs.Var(&scopes, "scope", "a scope, repeatable: "+strings.Join(auth.KeyScopes, ", "))
	sub, rest := args[0], args[1:]
	id, rest := revokeID(sub, rest)
	if err := config.Parse(fs, rest); err != nil {
		return err
	}
	ctx := context.Background()
	conn, err := store.Open(ctx, *ch, store.Options{})
	if err != nil {
		return err
	}
	defer conn.Close()
	ks := auth.NewKeys(conn, 0)
	switch sub {
	case "create":
		if *org != "" {
			if _, err := auth.NewOrgs(conn, 0).Get(ctx, *org); err != nil {
				return fmt.Errorf("organization %q: %w", *org, err)
			}
		}
		token, k, err := ks.CreateIn(ctx, *org, *name, scopes)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Created key %s (%s) with scopes %s.\nThis is the only time it is shown: store it now.\n", k.ID, k.Name, strings.Join(k.Scopes, ", "))
		fmt.Println(token)
	case "list", "revoke":
		return revocable[auth.Key]{
			noun: "key", list: ks.List, revoke: ks.Revoke, revoked: ".",
			head: []string{"ID", "NAME", "SCOPES", "ORG", "CREATED", "STATUS"},
			row: func(k auth.Key) []string {
				return []string{k.ID, k.Name, strings.Join(k.Scopes, ","), cmp.Or(k.Organization, "(all)"), created(k.CreatedAt), status(k.Revoked(), k.RevokedAt)}
			},
		}.run(ctx, sub, id, os.Stdout, os.Stderr)
	default:
		return errors.New(keysUsage)
	}
	return nil
}
