package auth

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
)

// Scope is what a viewer may see: everything (the zero Scope), one group
// or one credential.
type Scope struct {
	Kind  string // "", "group" or "credential"
	Value string
	// Org is the organization whose events alone the viewer sees, within
	// Kind and Value; "" for all.
	Org string
}

// The kinds of scope a shared link can have; they are also the aggregator's
// dimension names.
const (
	ScopeGroup      = "group"
	ScopeCredential = "credential"
)

func (s Scope) String() string {
	in := ""
	if s.Org != "" {
		in = " of " + s.Org
	}
	if s.Kind == "" {
		return "everything" + in
	}
	return s.Kind + " " + s.Value + in
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
func (l Link) Revoked() bool { return revoked(l.RevokedAt) }

var (
	ErrLinkInvalid  = errors.New("this link is not valid")
	ErrLinkRevoked  = errors.New("this link has been revoked")
	ErrLinkNotFound = errors.New("no shared link with that id")
)

var linksTable = table[Link]{
	name:  "share_links",
	noun:  "link",
	read:  "id, name, toString(scope), value, created_at, revoked_at, organization",
	write: "id, name, scope, value, created_at, revoked_at, organization",
	fields: func(l *Link) []any {
		return []any{&l.ID, &l.Name, &l.Scope.Kind, &l.Scope.Value, &l.CreatedAt, &l.RevokedAt, &l.Scope.Org}
	},
	revokedAt: func(l *Link) *time.Time { return &l.RevokedAt },
	notFound:  ErrLinkNotFound,
}

// Links keeps shared links in the share_links table. A link's token is
// ID.MAC, the MAC signing the id and the scope with the dashboard secret: the
// token is not stored, cannot be forged without the secret, and dies with
// its row's revocation.
type Links struct {
	tokens *tokens[Link] // cached by link id
	secret []byte
}

// NewLinks returns a link store. Lookups are cached for cacheTTL, so a
// revocation takes up to that long to reach a running server; 0 or less
// turns the cache off.
func NewLinks(conn driver.Conn, secret []byte, cacheTTL time.Duration) *Links {
	return &Links{tokens: newTokens(conn, linksTable, cacheTTL), secret: secret}
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
	if err := l.tokens.write(ctx, link); err != nil {
		return Link{}, "", err
	}
	return link, l.Token(link), nil
}

// List returns every link, newest first.
func (l *Links) List(ctx context.Context) ([]Link, error) { return l.tokens.list(ctx) }

// Revoke revokes the link with the given id: ErrLinkNotFound when there is
// none.
func (l *Links) Revoke(ctx context.Context, id string) error { return l.tokens.revoke(ctx, id) }

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
	link, ok, err := l.tokens.lookup(ctx, id, id, nil)
	switch {
	case err != nil:
		return Link{}, err
	case !ok, !hmac.Equal([]byte(token), []byte(l.Token(link))):
		return Link{}, ErrLinkInvalid
	case link.Revoked():
		return Link{}, ErrLinkRevoked
	}
	return link, nil
}
