package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/keys"
	"github.com/credstats/credstats/internal/ttlcache"
)

// Scope is what a viewer may see: everything (the zero Scope), one group
// or one credential.
type Scope struct {
	Kind  string // "", "group" or "credential"
	Value string
}

// The kinds of scope a shared link can have; they are also the aggregator's
// dimension names.
const (
	ScopeGroup      = "group"
	ScopeCredential = "credential"
)

func (s Scope) String() string {
	if s.Kind == "" {
		return "everything"
	}
	return s.Kind + " " + s.Value
}

// Link is a shared read-only link to the dashboard of one scope.
type Link struct {
	ID        string
	Name      string
	Scope     Scope
	CreatedAt time.Time
	RevokedAt time.Time // zero while the link works
}

// Revoked reports whether the link was revoked.
func (l Link) Revoked() bool { return !l.RevokedAt.IsZero() && l.RevokedAt.Unix() > 0 }

var (
	ErrLinkInvalid  = errors.New("this link is not valid")
	ErrLinkRevoked  = errors.New("this link has been revoked")
	ErrLinkNotFound = errors.New("no shared link with that id")
)

// Links keeps shared links in the share_links table. A link's token is
// ID.MAC, the MAC signing the id and the scope with the dashboard secret: the
// token is not stored, cannot be forged without the secret, and dies with
// its row's revocation.
type Links struct {
	conn   driver.Conn
	secret []byte
	ttl    time.Duration
	cache  *ttlcache.Cache[string, linkLookup] // by link id
}

type linkLookup struct {
	link Link
	err  error
}

// unknownLinkTTL is how long an id with no link is answered from memory.
// Ids are random, so a new link's id was never looked up before.
const unknownLinkTTL = 10 * time.Minute

// NewLinks returns a link store. Lookups are cached for cacheTTL, so a
// revocation takes up to that long to reach a running server; 0 or less
// turns the cache off.
func NewLinks(conn driver.Conn, secret []byte, cacheTTL time.Duration) *Links {
	l := &Links{conn: conn, secret: secret, ttl: cacheTTL}
	if cacheTTL > 0 {
		l.cache = ttlcache.New[string, linkLookup](4096, nil)
	}
	return l
}

const linkPurpose = "credstats shared link v1"

// Token returns the secret part of the link's address, /dashboard/s/TOKEN.
func (l *Links) Token(link Link) string {
	m := mac(l.secret, linkPurpose, link.ID, link.Scope.Kind, link.Scope.Value)
	return link.ID + "." + b64.EncodeToString(m[:18])
}

// Create stores a new link to the scope and returns it with its token.
func (l *Links) Create(ctx context.Context, name string, scope Scope) (Link, string, error) {
	if scope.Kind != ScopeGroup && scope.Kind != ScopeCredential {
		return Link{}, "", errors.New("a link is scoped to one group or one credential")
	}
	if !event.ValidID(scope.Value) {
		return Link{}, "", fmt.Errorf("%s: must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'", scope.Kind)
	}
	if name == "" {
		name = scope.String()
	}
	id := make([]byte, 8)
	rand.Read(id)
	link := Link{ID: hex.EncodeToString(id), Name: name, Scope: scope, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if err := l.write(ctx, link); err != nil {
		return Link{}, "", err
	}
	return link, l.Token(link), nil
}

// List returns every link, newest first.
func (l *Links) List(ctx context.Context) ([]Link, error) {
	rows, err := l.conn.Query(ctx, "SELECT id, name, toString(scope), value, created_at, revoked_at FROM share_links FINAL ORDER BY created_at DESC, id")
	if err != nil {
		return nil, fmt.Errorf("cannot list links: %w", err)
	}
	defer rows.Close()
	var links []Link
	for rows.Next() {
		var k Link
		if err := rows.Scan(&k.ID, &k.Name, &k.Scope.Kind, &k.Scope.Value, &k.CreatedAt, &k.RevokedAt); err != nil {
			return nil, fmt.Errorf("cannot list links: %w", err)
		}
		links = append(links, k)
	}
	return links, rows.Err()
}

// Revoke revokes the link with the given id.
func (l *Links) Revoke(ctx context.Context, id string) error {
	link, err := l.byID(ctx, id)
	if err != nil {
		return err
	}
	if link.Revoked() {
		return nil
	}
	link.RevokedAt = time.Now().UTC().Truncate(time.Second)
	if err := l.write(ctx, link); err != nil {
		return err
	}
	if l.cache != nil {
		l.cache.Purge()
	}
	return nil
}

// linkID returns the id part of a token when the token has a link's shape:
// 16 hex digits, a dot, then the signature in base64url.
func linkID(token string) (string, bool) {
	id, sig, ok := strings.Cut(token, ".")
	if !ok || len(id) != 16 || len(sig) != b64.EncodedLen(18) {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", false
	}
	if _, err := b64.DecodeString(sig); err != nil {
		return "", false
	}
	return id, true
}

// Open checks a token and returns its link: ErrLinkInvalid for a token that
// is malformed, unknown or signed for another scope, ErrLinkRevoked for a
// revoked link, any other error when the store cannot answer.
func (l *Links) Open(ctx context.Context, token string) (Link, error) {
	id, ok := linkID(token)
	if !ok {
		return Link{}, ErrLinkInvalid
	}
	var found linkLookup
	cached := false
	if l.cache != nil {
		found, cached = l.cache.Get(id)
	}
	if !cached {
		lctx, cancel := context.WithTimeout(ctx, keys.LookupTimeout)
		found.link, found.err = l.byID(lctx, id)
		cancel()
		if errors.Is(found.err, ErrLinkNotFound) {
			found.err = ErrLinkInvalid
		}
		if found.err != nil && !errors.Is(found.err, ErrLinkInvalid) {
			return Link{}, found.err // Not cached: the store may answer next time.
		}
		if l.cache != nil {
			ttl := l.ttl
			if found.err != nil {
				ttl = max(ttl, unknownLinkTTL)
			}
			l.cache.Add(id, found, ttl)
		}
	}
	if found.err != nil {
		return Link{}, found.err
	}
	if !hmac.Equal([]byte(token), []byte(l.Token(found.link))) {
		return Link{}, ErrLinkInvalid
	}
	if found.link.Revoked() {
		return Link{}, ErrLinkRevoked
	}
	return found.link, nil
}

func (l *Links) byID(ctx context.Context, id string) (Link, error) {
	var k Link
	err := l.conn.QueryRow(ctx, "SELECT id, name, toString(scope), value, created_at, revoked_at FROM share_links FINAL WHERE id = ?", id).
		Scan(&k.ID, &k.Name, &k.Scope.Kind, &k.Scope.Value, &k.CreatedAt, &k.RevokedAt)
	if err != nil {
		if strings.Contains(err.Error(), "no rows") {
			return Link{}, ErrLinkNotFound
		}
		return Link{}, fmt.Errorf("cannot look up link: %w", err)
	}
	return k, nil
}

func (l *Links) write(ctx context.Context, k Link) error {
	b, err := l.conn.PrepareBatch(ctx, "INSERT INTO share_links (id, name, scope, value, created_at, revoked_at, version)")
	if err != nil {
		return fmt.Errorf("cannot store link: %w", err)
	}
	revoked := k.RevokedAt
	if revoked.IsZero() {
		revoked = time.Unix(0, 0)
	}
	if err := b.Append(k.ID, k.Name, k.Scope.Kind, k.Scope.Value, k.CreatedAt, revoked, uint64(time.Now().UnixNano())); err != nil {
		return fmt.Errorf("cannot store link: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot store link: %w", err)
	}
	return nil
}
