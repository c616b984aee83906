// Package keys manages API keys: created with scopes, shown once, stored
// only as a SHA-256 hash in ClickHouse, revocable.
package keys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/ttlcache"
)

// The scopes a key can carry.
const (
	EventsWrite = "events:write" // Certifier-compatible ingest
	StatsRead   = "stats:read"   // query and export
	Dashboard   = "dashboard"    // sign in to the dashboard
)

// Scopes lists every scope.
var Scopes = []string{EventsWrite, StatsRead, Dashboard}

const prefix = "csk_"

var (
	ErrUnknown   = errors.New("a valid API key was not provided with the request")
	ErrRevoked   = errors.New("this API key has been revoked")
	ErrForbidden = errors.New("this API key does not have the scope this route needs")
	ErrNotFound  = errors.New("no API key with that id")
)

// Key is a stored key, without its secret.
type Key struct {
	ID        string
	Name      string
	Scopes    []string
	CreatedAt time.Time
	RevokedAt time.Time // zero while the key is valid
}

// Revoked reports whether the key was revoked.
func (k Key) Revoked() bool { return !k.RevokedAt.IsZero() && k.RevokedAt.Unix() > 0 }

// Store keeps keys in the api_keys table.
type Store struct {
	conn  driver.Conn
	ttl   time.Duration
	cache *ttlcache.Cache[string, lookup] // by token hash
}

// lookup is what the store answered for a token: its key, or ErrUnknown.
type lookup struct {
	key Key
	err error
}

const (
	// LookupTimeout bounds one key lookup in ClickHouse.
	LookupTimeout = 2 * time.Second
	// unknownTTL is how long a token the store does not know is refused
	// from memory. A token is unknown for good (a new key's token is new),
	// so only memory bounds it; anonymous clients guessing keys then cost
	// ClickHouse one query per distinct guess.
	unknownTTL = 10 * time.Minute
	cacheSize  = 4096
)

// NewStore returns a store. Lookups are cached for cacheTTL, so a
// revocation takes up to that long to reach a running server; 0 or less
// turns the cache off.
func NewStore(conn driver.Conn, cacheTTL time.Duration) *Store {
	s := &Store{conn: conn, ttl: cacheTTL}
	if cacheTTL > 0 {
		s.cache = ttlcache.New[string, lookup](cacheSize, nil)
	}
	return s
}

// Create makes a key and returns its token, which is not stored and cannot
// be shown again.
func (s *Store) Create(ctx context.Context, name string, scopes []string) (token string, k Key, err error) {
	if strings.TrimSpace(name) == "" {
		return "", Key{}, errors.New("a key needs a name")
	}
	if len(scopes) == 0 {
		return "", Key{}, fmt.Errorf("a key needs at least one scope: %s", strings.Join(Scopes, ", "))
	}
	for _, sc := range scopes {
		if !slices.Contains(Scopes, sc) {
			return "", Key{}, fmt.Errorf("unknown scope %q: use %s", sc, strings.Join(Scopes, ", "))
		}
	}
	id, secret := make([]byte, 8), make([]byte, 24)
	rand.Read(id)
	rand.Read(secret)
	k = Key{ID: hex.EncodeToString(id), Name: name, Scopes: slices.Compact(slices.Sorted(slices.Values(scopes))), CreatedAt: time.Now().UTC().Truncate(time.Second)}
	token = prefix + k.ID + "_" + hex.EncodeToString(secret)
	if err := s.write(ctx, k, hash(token)); err != nil {
		return "", Key{}, err
	}
	return token, k, nil
}

// List returns every key, newest first.
func (s *Store) List(ctx context.Context) ([]Key, error) {
	rows, err := s.conn.Query(ctx, "SELECT id, name, scopes, created_at, revoked_at FROM api_keys FINAL ORDER BY created_at DESC, id")
	if err != nil {
		return nil, fmt.Errorf("cannot list keys: %w", err)
	}
	defer rows.Close()
	var ks []Key
	for rows.Next() {
		var k Key
		if err := rows.Scan(&k.ID, &k.Name, &k.Scopes, &k.CreatedAt, &k.RevokedAt); err != nil {
			return nil, fmt.Errorf("cannot list keys: %w", err)
		}
		ks = append(ks, k)
	}
	return ks, rows.Err()
}

// Revoke revokes the key with the given id.
func (s *Store) Revoke(ctx context.Context, id string) error {
	k, h, err := s.byID(ctx, id)
	if err != nil {
		return err
	}
	if k.Revoked() {
		return nil
	}
	k.RevokedAt = time.Now().UTC().Truncate(time.Second)
	if err := s.write(ctx, k, h); err != nil {
		return err
	}
	if s.cache != nil {
		s.cache.Purge()
	}
	return nil
}

// Authenticate checks a token and that its key has the scope.
func (s *Store) Authenticate(ctx context.Context, token, scope string) (Key, error) {
	id, ok := parseID(token)
	if !ok {
		return Key{}, ErrUnknown
	}
	h := hash(token)
	var found lookup
	cached := false
	if s.cache != nil {
		found, cached = s.cache.Get(h)
	}
	if !cached {
		ctx, cancel := context.WithTimeout(ctx, LookupTimeout)
		defer cancel()
		k, stored, err := s.byID(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound), err == nil && subtle.ConstantTimeCompare([]byte(stored), []byte(h)) != 1:
			found = lookup{err: ErrUnknown}
		case err != nil:
			return Key{}, err // Not cached: the store may answer next time.
		default:
			found = lookup{key: k}
		}
		if s.cache != nil {
			ttl := s.ttl
			if found.err != nil {
				ttl = max(ttl, unknownTTL)
			}
			s.cache.Add(h, found, ttl)
		}
	}
	if found.err != nil {
		return Key{}, found.err
	}
	k := found.key
	switch {
	case k.Revoked():
		return Key{}, ErrRevoked
	case !slices.Contains(k.Scopes, scope):
		return Key{}, ErrForbidden
	}
	return k, nil
}

// Check returns the key with the given id when it is valid and has the
// scope, for a session that was opened with it: ErrUnknown when there is
// no such key, ErrRevoked or ErrForbidden as Authenticate. It is not cached.
func (s *Store) Check(ctx context.Context, id, scope string) (Key, error) {
	ctx, cancel := context.WithTimeout(ctx, LookupTimeout)
	defer cancel()
	k, _, err := s.byID(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return Key{}, ErrUnknown
	case err != nil:
		return Key{}, err
	case k.Revoked():
		return Key{}, ErrRevoked
	case !slices.Contains(k.Scopes, scope):
		return Key{}, ErrForbidden
	}
	return k, nil
}

func (s *Store) byID(ctx context.Context, id string) (Key, string, error) {
	var k Key
	var h string
	err := s.conn.QueryRow(ctx, "SELECT id, name, scopes, created_at, revoked_at, hash FROM api_keys FINAL WHERE id = ?", id).
		Scan(&k.ID, &k.Name, &k.Scopes, &k.CreatedAt, &k.RevokedAt, &h)
	if err != nil {
		if strings.Contains(err.Error(), "no rows") {
			return Key{}, "", ErrNotFound
		}
		return Key{}, "", fmt.Errorf("cannot look up key: %w", err)
	}
	return k, h, nil
}

func (s *Store) write(ctx context.Context, k Key, h string) error {
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO api_keys (id, name, hash, scopes, created_at, revoked_at, version)")
	if err != nil {
		return fmt.Errorf("cannot store key: %w", err)
	}
	revoked := k.RevokedAt
	if revoked.IsZero() {
		revoked = time.Unix(0, 0)
	}
	if err := b.Append(k.ID, k.Name, h, k.Scopes, k.CreatedAt, revoked, uint64(time.Now().UnixNano())); err != nil {
		return fmt.Errorf("cannot store key: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot store key: %w", err)
	}
	return nil
}

func parseID(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(secret) != 48 {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", false
	}
	return id, true
}

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
