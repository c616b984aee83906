package auth

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
)

// The scopes a key can carry.
const (
	EventsWrite = "events:write" // Certifier-compatible ingest
	StatsRead   = "stats:read"   // query and export
	Dashboard   = "dashboard"    // sign in to the dashboard
	Operator    = "operator"     // operator routes: erase a credential
	// RegistryWrite records credentials in the registry.
	RegistryWrite = "registry:write"
)

// KeyScopes lists every scope a key can carry.
var KeyScopes = []string{EventsWrite, StatsRead, Dashboard, Operator, RegistryWrite}

const keyPrefix = "csk_"

var (
	ErrKeyUnknown   = errors.New("a valid API key was not provided with the request")
	ErrKeyRevoked   = errors.New("this API key has been revoked")
	ErrKeyForbidden = errors.New("this API key does not have the scope this route needs")
	ErrKeyNotFound  = errors.New("no API key with that id")
)

// Key is a stored API key, without its secret.
type Key struct {
	ID        string
	Name      string
	Scopes    []string
	CreatedAt time.Time
	RevokedAt time.Time // zero while the key is valid
	// Organization is the id of the organization whose events alone the
	// key sees; "" for an operator's key, which sees everything.
	Organization string
}

// Revoked reports whether the key was revoked.
func (k Key) Revoked() bool { return revoked(k.RevokedAt) }

// valid returns the key when it is valid for the scope.
func (k Key) valid(scope string) (Key, error) {
	switch {
	case k.Revoked():
		return Key{}, ErrKeyRevoked
	case !slices.Contains(k.Scopes, scope):
		return Key{}, ErrKeyForbidden
	}
	return k, nil
}

// keyRow is a key as the api_keys table has it: with the SHA-256 hash of
// its token, which is all that is stored of it.
type keyRow struct {
	Key
	hash string
}

var keysTable = table[keyRow]{
	name:  "api_keys",
	noun:  "key",
	read:  "id, name, scopes, created_at, revoked_at, hash, organization",
	write: "id, name, scopes, created_at, revoked_at, hash, organization",
	fields: func(r *keyRow) []any {
		return []any{&r.ID, &r.Name, &r.Scopes, &r.CreatedAt, &r.RevokedAt, &r.hash, &r.Organization}
	},
	revokedAt: func(r *keyRow) *time.Time { return &r.RevokedAt },
	notFound:  ErrKeyNotFound,
}

// Keys keeps API keys in the api_keys table: created with scopes, shown
// once, stored only as a SHA-256 hash, revocable.
type Keys struct {
	tokens *tokens[keyRow] // cached by token hash
}

// NewKeys returns the key store. Lookups are cached for cacheTTL, so a
// revocation takes up to that long to reach a running server; 0 or less
// turns the cache off.
func NewKeys(conn driver.Conn, cacheTTL time.Duration) *Keys {
	return &Keys{tokens: newTokens(conn, keysTable, cacheTTL)}
}

// Create makes an operator's key and returns its token, which is not
// stored and cannot be shown again.
func (s *Keys) Create(ctx context.Context, name string, scopes []string) (token string, k Key, err error) {
	return s.CreateIn(ctx, "", name, scopes)
}

// CreateIn makes a key of the organization org (checked by the caller;
// "" for an operator's key) and returns its token.
func (s *Keys) CreateIn(ctx context.Context, org, name string, scopes []string) (token string, k Key, err error) {
	if strings.TrimSpace(name) == "" {
		return "", Key{}, errors.New("a key needs a name")
	}
	if len(scopes) == 0 {
		return "", Key{}, fmt.Errorf("a key needs at least one scope: %s", strings.Join(KeyScopes, ", "))
	}
	for _, sc := range scopes {
		if !slices.Contains(KeyScopes, sc) {
			return "", Key{}, fmt.Errorf("unknown scope %q: use %s", sc, strings.Join(KeyScopes, ", "))
		}
	}
	id, secret := make([]byte, 8), make([]byte, 24)
	rand.Read(id)
	rand.Read(secret)
	if org != "" && slices.Contains(scopes, Operator) {
		return "", Key{}, errors.New("an organization's key cannot have the operator scope")
	}
	k = Key{ID: hex.EncodeToString(id), Name: name, Scopes: slices.Compact(slices.Sorted(slices.Values(scopes))),
		CreatedAt: time.Now().UTC().Truncate(time.Second), Organization: org}
	token = keyPrefix + k.ID + "_" + hex.EncodeToString(secret)
	if err := s.tokens.write(ctx, keyRow{k, hashToken(token)}); err != nil {
		return "", Key{}, err
	}
	return token, k, nil
}

// List returns every key, newest first.
func (s *Keys) List(ctx context.Context) ([]Key, error) {
	rows, err := s.tokens.list(ctx)
	ks := make([]Key, len(rows))
	for i, r := range rows {
		ks[i] = r.Key
	}
	return ks, err
}

// Revoke revokes the key with the given id: ErrKeyNotFound when there is
// none.
func (s *Keys) Revoke(ctx context.Context, id string) error { return s.tokens.revoke(ctx, id) }

// Authenticate checks a token and that its key has the scope.
func (s *Keys) Authenticate(ctx context.Context, token, scope string) (Key, error) {
	id, ok := keyID(token)
	if !ok {
		return Key{}, ErrKeyUnknown
	}
	h := hashToken(token)
	r, ok, err := s.tokens.lookup(ctx, h, id, func(r keyRow) bool {
		return subtle.ConstantTimeCompare([]byte(r.hash), []byte(h)) == 1
	})
	switch {
	case err != nil:
		return Key{}, err
	case !ok:
		return Key{}, ErrKeyUnknown
	}
	return r.valid(scope)
}

// Check returns the key with the given id when it is valid and has the
// scope, for a session that was opened with it: ErrKeyUnknown when there
// is no such key, ErrKeyRevoked or ErrKeyForbidden as Authenticate. It is
// not cached.
func (s *Keys) Check(ctx context.Context, id, scope string) (Key, error) {
	ctx, cancel := context.WithTimeout(ctx, LookupTimeout)
	defer cancel()
	r, err := s.tokens.byID(ctx, id)
	switch {
	case errors.Is(err, ErrKeyNotFound):
		return Key{}, ErrKeyUnknown
	case err != nil:
		return Key{}, err
	}
	return r.valid(scope)
}

// keyID returns the id part of a token when the token has a key's shape:
// the prefix, 16 hex digits, an underscore and 48 more.
func keyID(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, keyPrefix)
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

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
