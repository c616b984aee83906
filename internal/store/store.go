// Package store opens connections to ClickHouse over the native protocol,
// the one that works on every server credstats supports (18.16 onwards).
package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Options tune a connection.
type Options struct {
	// ReadOnly asks the server to refuse every write on this connection.
	ReadOnly bool
	// MaxExecutionTime bounds each query on the server; 0 leaves it unbounded.
	MaxExecutionTime time.Duration
	// Cluster marks a connection to a server of a ClickHouse cluster, whose
	// tables are Distributed: an insert then returns once every shard it
	// touched has stored its rows (insert_distributed_sync), so an answer
	// means stored, as on a single server; see Connect for the rest.
	Cluster bool
	// Host, when set, replaces the servers that the address names: a
	// connection as the same user to the same database on another server
	// of a cluster.
	Host string
}

// ParseDSN checks a clickhouse://host:port/database address and returns
// the database it names.
func ParseDSN(dsn string) (*clickhouse.Options, error) {
	if !strings.HasPrefix(dsn, "clickhouse://") && !strings.HasPrefix(dsn, "tcp://") {
		return nil, fmt.Errorf("cannot parse ClickHouse address %q: want clickhouse://host:port/database", dsn)
	}
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("cannot parse ClickHouse address %q: %w", dsn, err)
	}
	if opts.Auth.Database == "" {
		opts.Auth.Database = "default"
	}
	return opts, nil
}

// Open connects to ClickHouse and checks that the server answers.
func Open(ctx context.Context, dsn string, o Options) (driver.Conn, error) {
	conn, err := Connect(dsn, o)
	if err != nil {
		return nil, err
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		opts, _ := ParseDSN(dsn)
		if o.Host != "" {
			opts.Addr = []string{o.Host}
		}
		return nil, fmt.Errorf("cannot reach ClickHouse at %s: %w", redact(opts), err)
	}
	return conn, nil
}

// Connect returns a connection pool without asking the server anything:
// connections are made when queries need them, so a service can start
// while ClickHouse is away.
func Connect(dsn string, o Options) (driver.Conn, error) {
	opts, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if o.Host != "" {
		opts.Addr = []string{o.Host}
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	// A dashboard page runs its sections at once, some as two queries
	// (about 20 in all): with the driver's 10 connections, a key's or a
	// link's lookup waited behind them, and failed after DialTimeout when
	// ClickHouse was busy. The server queues what its cores cannot run.
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns, opts.MaxIdleConns = 32, 8
	}
	if opts.Settings == nil {
		opts.Settings = clickhouse.Settings{}
	}
	if o.ReadOnly {
		// 2 still lets the client set per-query settings such as the time limit.
		opts.Settings["readonly"] = 2
	}
	if o.Cluster {
		opts.Settings["insert_distributed_sync"] = 1
		// Replicated tables drop a block equal to one of their last 100
		// blocks, and so do the rollups the views fill: two small batches
		// whose rollup rows came out equal lost the second's counts. The
		// writer's batch-id check stores nothing twice instead.
		opts.Settings["insert_deduplicate"] = 0
	}
	if o.MaxExecutionTime > 0 {
		opts.Settings["max_execution_time"] = int(o.MaxExecutionTime.Seconds() + 0.999)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("cannot open ClickHouse at %s: %w", redact(opts), err)
	}
	return conn, nil
}

// EnsureDatabase creates the database that dsn names if it is missing.
func EnsureDatabase(ctx context.Context, dsn string) error {
	return EnsureClusterDatabase(ctx, dsn, "")
}

// EnsureClusterDatabase creates the database that dsn names on every
// server of the cluster (ON CLUSTER) if it is missing; with no cluster, on
// the server dsn names.
func EnsureClusterDatabase(ctx context.Context, dsn, cluster string) error {
	opts, err := ParseDSN(dsn)
	if err != nil {
		return err
	}
	db := opts.Auth.Database
	if !validName(db) {
		return fmt.Errorf("cannot use database name %q: use letters, digits and '_'", db)
	}
	opts.Auth.Database = "default"
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return fmt.Errorf("cannot open ClickHouse at %s: %w", redact(opts), err)
	}
	defer conn.Close()
	onCluster := ""
	if cluster != "" {
		if !ValidClusterName(cluster) {
			return fmt.Errorf("cannot use cluster name %q: use letters, digits and '_'", cluster)
		}
		onCluster = " ON CLUSTER " + cluster
	}
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db+onCluster); err != nil {
		return fmt.Errorf("cannot create database %s: %w", db, err)
	}
	return nil
}

// Version returns the server's major and minor version.
func Version(conn driver.Conn) (major, minor uint64, err error) {
	v, err := conn.ServerVersion()
	if err != nil {
		return 0, 0, fmt.Errorf("cannot read the ClickHouse server version: %w", err)
	}
	return v.Version.Major, v.Version.Minor, nil
}

// ValidClusterName reports whether s can name a cluster in DDL as it is.
func ValidClusterName(s string) bool { return validName(s) }

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// redact names the server and database but never the password.
func redact(o *clickhouse.Options) string {
	return strings.Join(o.Addr, ",") + "/" + o.Auth.Database
}

// In is a bound IN list of the values, "?, ?, ?", with its arguments: the
// native protocol binds a slice as one Array, which IN refuses on 18.16.
// values must not be empty.
func In(values []string) (list string, args []any) {
	args = make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return strings.Repeat("?, ", len(values)-1) + "?", args
}
