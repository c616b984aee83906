// Package registry records what a credential is: its name, recipient,
// group, organization, dates and status, as the issuer's platform says.
// Entries live in ClickHouse's credentials table, a newer version of a row
// replacing the older; the compatible ingest routes take a credential's
// group from here, and the aggregator answers lists with names.
package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/store"
)

// The statuses of a credential, as Open Badges-style documents have them.
const (
	Valid   = "valid"
	Expired = "expired"
	Revoked = "revoked"
)

// Statuses lists every status.
var Statuses = []string{Valid, Expired, Revoked}

// MaxNameLen bounds a name, in characters.
const MaxNameLen = 200

// Entry is one credential as the registry knows it. Empty strings and nil
// times are unknown.
type Entry struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	RecipientName string     `json:"recipient_name"`
	Group         string     `json:"group"`
	GroupName     string     `json:"group_name"`
	Organization  string     `json:"organization"`
	IssuedAt      *time.Time `json:"issued_at"`
	ExpiresAt     *time.Time `json:"expires_at"`
	Status        string     `json:"status"`
}

// Decode reads one entry from a JSON object and checks it; id, when not
// empty, is the entry's id from the route, which the body may repeat but
// not contradict. Errors are *event.FieldError or wrap event.ErrMalformed.
func Decode(body []byte, id string) (Entry, error) {
	var e Entry
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return e, fmt.Errorf("%w: an entry must be a JSON object", event.ErrMalformed)
	}
	if err := d.Decode(&e); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return Entry{}, &event.FieldError{Field: typeErr.Field, Message: "must be a JSON " + typeErr.Type.Kind().String()}
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return Entry{}, &event.FieldError{Field: strings.Trim(field, `"`), Message: "is not a field of a credential; use id, name, recipient_name, group, group_name, organization, issued_at, expires_at, status"}
		}
		var timeErr *time.ParseError
		if errors.As(err, &timeErr) {
			return Entry{}, &event.FieldError{Field: "issued_at or expires_at", Message: "must be an RFC 3339 time such as 2026-03-12T17:33:05Z"}
		}
		return Entry{}, fmt.Errorf("%w: %v", event.ErrMalformed, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return Entry{}, fmt.Errorf("%w: one JSON object, nothing after it", event.ErrMalformed)
	}
	switch {
	case id == "":
	case e.ID == "":
		e.ID = id
	case e.ID != id:
		return Entry{}, &event.FieldError{Field: "id", Message: "differs from the id in the path"}
	}
	return e, e.Check()
}

// Check checks an entry's fields, and sets an empty status to valid.
func (e *Entry) Check() error {
	if !event.ValidID(e.ID) {
		return &event.FieldError{Field: "id", Message: "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'"}
	}
	for _, f := range []struct{ name, v string }{{"group", e.Group}, {"organization", e.Organization}} {
		if f.v != "" && !event.ValidID(f.v) {
			return &event.FieldError{Field: f.name, Message: "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'"}
		}
	}
	for _, f := range []struct{ name, v string }{{"name", e.Name}, {"recipient_name", e.RecipientName}, {"group_name", e.GroupName}} {
		if err := checkName(f.name, f.v); err != nil {
			return err
		}
	}
	if e.Status == "" {
		e.Status = Valid
	}
	if !slices.Contains(Statuses, e.Status) {
		return &event.FieldError{Field: "status", Message: "must be one of " + strings.Join(Statuses, ", ")}
	}
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"issued_at", e.IssuedAt}, {"expires_at", e.ExpiresAt}} {
		if f.t != nil && (f.t.Year() < 1971 || f.t.Year() > 2105) {
			return &event.FieldError{Field: f.name, Message: "must be between 1971 and 2105"}
		}
	}
	if e.IssuedAt != nil && e.ExpiresAt != nil && e.ExpiresAt.Before(*e.IssuedAt) {
		return &event.FieldError{Field: "expires_at", Message: "is before issued_at"}
	}
	return nil
}

// checkName allows any printable text up to MaxNameLen characters.
func checkName(field, s string) error {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxNameLen {
		return &event.FieldError{Field: field, Message: fmt.Sprintf("must be at most %d characters of UTF-8", MaxNameLen)}
	}
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return &event.FieldError{Field: field, Message: "may not contain control characters"}
	}
	return nil
}

// Store keeps entries in the credentials table.
type Store struct {
	Conn driver.Conn
	// Now is the clock the cache of Groups expires by (nil: time.Now).
	Now func() time.Time
}

// lastVersion is the version of the latest Put: versions are the wall
// clock in nanoseconds, and one more than the last when the clock has
// not moved on, so that the later of two entries wins.
var lastVersion atomic.Int64

func nextVersion() uint64 {
	for {
		last, now := lastVersion.Load(), time.Now().UnixNano()
		v := max(now, last+1)
		if lastVersion.CompareAndSwap(last, v) {
			return uint64(v)
		}
	}
}

const columns = "id, name, recipient_name, group_id, group_name, organization, issued_at, expires_at, status"

// Put records entries, each replacing what was known of its credential.
func (s Store) Put(ctx context.Context, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	b, err := s.Conn.PrepareBatch(ctx, "INSERT INTO credentials ("+columns+", version)")
	if err != nil {
		return fmt.Errorf("cannot record credentials: %w", err)
	}
	version := nextVersion()
	for _, e := range entries {
		if err := b.Append(e.ID, e.Name, e.RecipientName, e.Group, e.GroupName, e.Organization,
			orZero(e.IssuedAt), orZero(e.ExpiresAt), e.Status, version); err != nil {
			b.Abort()
			return fmt.Errorf("cannot record credentials: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot record credentials: %w", err)
	}
	return nil
}

func orZero(t *time.Time) time.Time {
	if t == nil {
		return time.Unix(0, 0)
	}
	return t.UTC()
}

// Get reads the entries of the ids it knows.
func (s Store) Get(ctx context.Context, ids []string) (map[string]Entry, error) {
	out := make(map[string]Entry, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	in, args := store.In(ids)
	rows, err := s.Conn.Query(ctx, `SELECT id, argMax(name, version), argMax(recipient_name, version), argMax(group_id, version),
		argMax(group_name, version), argMax(organization, version), argMax(issued_at, version), argMax(expires_at, version),
		toString(argMax(status, version)) FROM credentials WHERE id IN (`+in+`) GROUP BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read credentials: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Entry
		var issued, expires time.Time
		if err := rows.Scan(&e.ID, &e.Name, &e.RecipientName, &e.Group, &e.GroupName, &e.Organization, &issued, &expires, &e.Status); err != nil {
			return nil, fmt.Errorf("cannot read credentials: %w", err)
		}
		e.IssuedAt, e.ExpiresAt = known(issued), known(expires)
		out[e.ID] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read credentials: %w", err)
	}
	return out, nil
}

// Names returns the names people know ids by: a credential's name, or a
// group's name (as any of its credentials' entries gives it), for the ids
// that have one.
func (s Store) Names(ctx context.Context, groups bool, ids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	in, args := store.In(ids)
	sql := `SELECT id, argMax(name, version) AS n FROM credentials WHERE id IN (` + in + `) GROUP BY id HAVING n != ''`
	if groups {
		sql = `SELECT group_id, any(group_name) FROM credentials WHERE group_id IN (` + in + `) AND group_name != '' GROUP BY group_id`
	}
	rows, err := s.Conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("cannot read names: %w", err)
		}
		out[id] = name
	}
	return out, rows.Err()
}

func known(t time.Time) *time.Time {
	if t.Unix() <= 0 {
		return nil
	}
	t = t.UTC()
	return &t
}
