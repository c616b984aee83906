package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Org is an organization: an issuer that one server serves among others,
// with the hosts its credential pages live on. Its keys and shared links
// see only its credentials: those the registry names it for, and those
// whose pages were seen on its hosts.
type Org struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Hosts     []string  `json:"hosts"`
	CreatedAt time.Time `json:"created_at"`
	DeletedAt time.Time `json:"-"` // zero while it exists
}

// Deleted reports whether the organization was deleted.
func (o Org) Deleted() bool { return revoked(o.DeletedAt) }

var (
	ErrOrgNotFound = errors.New("no organization with that id")
	ErrOrgDeleted  = errors.New("that organization was deleted")
	// errOrgRefused wraps what a person must change: a name or a host.
	errOrgRefused = errors.New("refused")
)

func refused(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errOrgRefused}, args...)...)
}

var orgsTable = table[Org]{
	name:  "organizations",
	noun:  "organization",
	read:  "id, name, hosts, created_at, deleted_at",
	write: "id, name, hosts, created_at, deleted_at",
	fields: func(o *Org) []any {
		return []any{&o.ID, &o.Name, &o.Hosts, &o.CreatedAt, &o.DeletedAt}
	},
	revokedAt: func(o *Org) *time.Time { return &o.DeletedAt },
	notFound:  ErrOrgNotFound,
}

// Orgs keeps organizations in the organizations table.
type Orgs struct {
	tokens *tokens[Org]
	conn   driver.Conn
}

// NewOrgs returns the organization store; lookups are cached for
// cacheTTL (0 or less: not cached).
func NewOrgs(conn driver.Conn, cacheTTL time.Duration) *Orgs {
	return &Orgs{tokens: newTokens(conn, orgsTable, cacheTTL), conn: conn}
}

var (
	hostRe = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(:[0-9]{1,5})?$`)
	slugRe = regexp.MustCompile(`[^a-z0-9]+`)
)

// checkOrg checks a name and hosts, and lowercases the hosts.
func checkOrg(name string, hosts []string) ([]string, error) {
	if strings.TrimSpace(name) == "" || utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name) {
		return nil, refused("an organization needs a name of 1-100 characters")
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if len(h) > 253 || !hostRe.MatchString(h) {
			return nil, refused("%q is not a host name such as certificates.example.org", h)
		}
		out = append(out, h)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Create makes an organization whose id is made from its name; a host
// another organization has is refused.
func (s *Orgs) Create(ctx context.Context, name string, hosts []string) (Org, error) {
	hosts, err := checkOrg(name, hosts)
	if err != nil {
		return Org{}, err
	}
	id := strings.Trim(slugRe.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if id == "" || len(id) > 64 {
		return Org{}, refused("the name must have letters or digits, and make an id of at most 64")
	}
	all, err := s.List(ctx)
	if err != nil {
		return Org{}, err
	}
	for _, o := range all {
		if o.ID == id {
			return Org{}, refused("an organization %q exists already", id)
		}
	}
	if err := s.hostsFree(all, id, hosts); err != nil {
		return Org{}, err
	}
	o := Org{ID: id, Name: strings.TrimSpace(name), Hosts: hosts, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	return o, s.tokens.write(ctx, o)
}

func (s *Orgs) hostsFree(all []Org, id string, hosts []string) error {
	for _, o := range all {
		if o.ID == id || o.Deleted() {
			continue
		}
		for _, h := range hosts {
			if slices.Contains(o.Hosts, h) {
				return refused("%s is a host of %s already", h, o.ID)
			}
		}
	}
	return nil
}

// List returns every organization, deleted ones too, newest first.
func (s *Orgs) List(ctx context.Context) ([]Org, error) { return s.tokens.list(ctx) }

// Get returns the organization of id: ErrOrgNotFound or ErrOrgDeleted
// when there is none that works.
func (s *Orgs) Get(ctx context.Context, id string) (Org, error) {
	o, ok, err := s.tokens.lookup(ctx, id, id, nil)
	switch {
	case err != nil:
		return Org{}, err
	case !ok:
		return Org{}, ErrOrgNotFound
	case o.Deleted():
		return Org{}, ErrOrgDeleted
	}
	return o, nil
}

// Update renames an organization (name not empty) and replaces its hosts
// (hosts not nil).
func (s *Orgs) Update(ctx context.Context, id, name string, hosts []string) (Org, error) {
	o, err := s.tokens.byID(ctx, id)
	if err != nil {
		return Org{}, err
	}
	if o.Deleted() {
		return Org{}, ErrOrgDeleted
	}
	if name != "" {
		o.Name = name
	}
	if hosts != nil {
		o.Hosts = hosts
	}
	if o.Hosts, err = checkOrg(o.Name, o.Hosts); err != nil {
		return Org{}, err
	}
	all, err := s.List(ctx)
	if err != nil {
		return Org{}, err
	}
	if err := s.hostsFree(all, id, o.Hosts); err != nil {
		return Org{}, err
	}
	if err := s.tokens.write(ctx, o); err != nil {
		return Org{}, err
	}
	if s.tokens.cache != nil {
		s.tokens.cache.Remove(id)
	}
	return o, nil
}

// Delete deletes an organization and revokes its keys and shared links;
// its events stay, seen by operators' keys.
func (s *Orgs) Delete(ctx context.Context, id string, keys *Keys, links *Links) error {
	if _, err := s.tokens.byID(ctx, id); err != nil {
		return err
	}
	ks, err := keys.List(ctx)
	if err != nil {
		return err
	}
	for _, k := range ks {
		if k.Organization == id && !k.Revoked() {
			if err := keys.Revoke(ctx, k.ID); err != nil {
				return err
			}
		}
	}
	if links != nil {
		ls, err := links.List(ctx)
		if err != nil {
			return err
		}
		for _, l := range ls {
			if l.Scope.Org == id && !l.Revoked() {
				if err := links.Revoke(ctx, l.ID); err != nil {
					return err
				}
			}
		}
	}
	return s.tokens.revoke(ctx, id)
}
