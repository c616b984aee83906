// Package auth is who may do what: API keys (stored hashed, with scopes),
// the dashboard's shared read-only links and its sign-in sessions, and the
// secret that signs the last two. Keys and links are both revocable tokens
// in one kind of store (tokens.go).
package auth

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/ttlcache"
)

const (
	// LookupTimeout bounds one lookup of a key or link in ClickHouse.
	LookupTimeout = 2 * time.Second
	// unknownTTL is how long a token the store does not know is refused
	// from memory. A token is unknown for good (a new key or link has a new
	// random id), so only memory bounds it; anonymous clients guessing
	// tokens then cost ClickHouse one query per distinct guess.
	unknownTTL = 10 * time.Minute
	cacheSize  = 4096
)

// tokens is the store behind keys and links: a ReplacingMergeTree table
// read with FINAL, where a row is revoked by writing it again with a
// higher version, and a cache of lookups.
type tokens[R any] struct {
	conn  driver.Conn
	t     table[R]
	ttl   time.Duration
	cache *ttlcache.Cache[string, found[R]] // nil: not cached
}

// table says how one kind of token is stored.
type table[R any] struct {
	name  string // the table
	noun  string // what a row is, in errors: "key", "link"
	read  string // the columns a SELECT reads, in the order of fields
	write string // the same columns, as an INSERT names them
	// fields points at a row's fields, in the order of the columns.
	fields func(*R) []any
	// revokedAt points at the row's revocation time, zero while it works.
	revokedAt func(*R) *time.Time
	notFound  error // what byID answers for an id with no row
}

// found is a cached lookup: the row, or ok false for none.
type found[R any] struct {
	row R
	ok  bool
}

// newTokens returns a store whose lookups are cached for cacheTTL, so a
// revocation takes up to that long to reach a running server; 0 or less
// turns the cache off.
func newTokens[R any](conn driver.Conn, t table[R], cacheTTL time.Duration) *tokens[R] {
	s := &tokens[R]{conn: conn, t: t, ttl: cacheTTL}
	if cacheTTL > 0 {
		s.cache = ttlcache.New[string, found[R]](cacheSize, nil)
	}
	return s
}

// revoked reports whether a revocation time is set: the table stores the
// start of the epoch for none.
func revoked(at time.Time) bool { return !at.IsZero() && at.Unix() > 0 }

// lookup returns the row of id, answered from the cache under key when it
// can be: ok is false when there is no row or match (nil: any) refuses it.
// Errors are not cached: the store may answer next time.
func (s *tokens[R]) lookup(ctx context.Context, key, id string, match func(R) bool) (R, bool, error) {
	if s.cache != nil {
		if f, ok := s.cache.Get(key); ok {
			return f.row, f.ok, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, LookupTimeout)
	defer cancel()
	var f found[R]
	r, err := s.byID(ctx, id)
	switch {
	case err == nil && (match == nil || match(r)):
		f = found[R]{row: r, ok: true}
	case err != nil && !errors.Is(err, s.t.notFound):
		return f.row, false, err
	}
	if s.cache != nil {
		ttl := s.ttl
		if !f.ok {
			ttl = max(ttl, unknownTTL)
		}
		s.cache.Add(key, f, ttl)
	}
	return f.row, f.ok, nil
}

func (s *tokens[R]) byID(ctx context.Context, id string) (R, error) {
	var r R
	err := s.conn.QueryRow(ctx, "SELECT "+s.t.read+" FROM "+s.t.name+" FINAL WHERE id = ?", id).Scan(s.t.fields(&r)...)
	if err != nil {
		var zero R
		if strings.Contains(err.Error(), "no rows") {
			return zero, s.t.notFound
		}
		return zero, fmt.Errorf("cannot look up %s: %w", s.t.noun, err)
	}
	return r, nil
}

// list returns every row, newest first.
func (s *tokens[R]) list(ctx context.Context) ([]R, error) {
	rows, err := s.conn.Query(ctx, "SELECT "+s.t.read+" FROM "+s.t.name+" FINAL ORDER BY created_at DESC, id")
	if err != nil {
		return nil, fmt.Errorf("cannot list %ss: %w", s.t.noun, err)
	}
	defer rows.Close()
	var list []R
	for rows.Next() {
		var r R
		if err := rows.Scan(s.t.fields(&r)...); err != nil {
			return nil, fmt.Errorf("cannot list %ss: %w", s.t.noun, err)
		}
		list = append(list, r)
	}
	return list, rows.Err()
}

// revoke revokes the row of id, unless it is already.
func (s *tokens[R]) revoke(ctx context.Context, id string) error {
	r, err := s.byID(ctx, id)
	if err != nil {
		return err
	}
	at := s.t.revokedAt(&r)
	if revoked(*at) {
		return nil
	}
	*at = time.Now().UTC().Truncate(time.Second)
	if err := s.write(ctx, r); err != nil {
		return err
	}
	if s.cache != nil {
		s.cache.Purge()
	}
	return nil
}

// write stores r as the newest version of its row.
func (s *tokens[R]) write(ctx context.Context, r R) error {
	if at := s.t.revokedAt(&r); at.IsZero() {
		*at = time.Unix(0, 0)
	}
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.t.name+" ("+s.t.write+", version)")
	if err != nil {
		return fmt.Errorf("cannot store %s: %w", s.t.noun, err)
	}
	var values []any
	for _, p := range s.t.fields(&r) {
		values = append(values, reflect.ValueOf(p).Elem().Interface())
	}
	if err := b.Append(append(values, uint64(time.Now().UnixNano()))...); err != nil {
		return fmt.Errorf("cannot store %s: %w", s.t.noun, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot store %s: %w", s.t.noun, err)
	}
	return nil
}
