package auth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

// TestKeys runs a key's life against the real ClickHouse: created, listed,
// checked, revoked.
func TestKeys(t *testing.T) {
	_, conn := chtest.New(t)
	ctx := context.Background()
	for _, ttl := range []int{0, 1} { // uncached, then cached
		ks := auth.NewKeys(conn, time1s(ttl))
		token, k, err := ks.Create(ctx, "ci", []string{auth.StatsRead, auth.EventsWrite, auth.StatsRead})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(k.Scopes, ",") != "events:write,stats:read" {
			t.Errorf("scopes %v: want sorted, once each", k.Scopes)
		}
		f := func(token, scope string, want error) {
			t.Helper()
			got, err := ks.Authenticate(ctx, token, scope)
			if !errors.Is(err, want) || err == nil && got.ID != k.ID {
				t.Errorf("Authenticate(%.20q, %s) = %s, %v; want %v", token, scope, got.ID, err, want)
			}
		}
		f(token, auth.StatsRead, nil)
		f(token, auth.Dashboard, auth.ErrKeyForbidden)
		other := "0"
		if strings.HasSuffix(token, other) {
			other = "1"
		}
		f(token[:len(token)-1]+other, auth.StatsRead, auth.ErrKeyUnknown) // the right id, another secret
		f("csk_0000000000000000_"+strings.Repeat("0", 48), auth.StatsRead, auth.ErrKeyUnknown)
		f("not a key", auth.StatsRead, auth.ErrKeyUnknown)
		if _, err := ks.Check(ctx, k.ID, auth.StatsRead); err != nil {
			t.Errorf("Check: %v", err)
		}
		if _, err := ks.Check(ctx, "0000000000000000", auth.StatsRead); !errors.Is(err, auth.ErrKeyUnknown) {
			t.Errorf("Check of no key: %v", err)
		}

		if err := ks.Revoke(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		if err := ks.Revoke(ctx, k.ID); err != nil {
			t.Errorf("a second revocation: %v", err)
		}
		if err := ks.Revoke(ctx, "0000000000000000"); !errors.Is(err, auth.ErrKeyNotFound) {
			t.Errorf("revoking no key: %v", err)
		}
		f(token, auth.StatsRead, auth.ErrKeyRevoked)
		if _, err := ks.Check(ctx, k.ID, auth.StatsRead); !errors.Is(err, auth.ErrKeyRevoked) {
			t.Errorf("Check of a revoked key: %v", err)
		}
		list, err := ks.List(ctx)
		i := slices.IndexFunc(list, func(x auth.Key) bool { return x.ID == k.ID })
		if err != nil || len(list) != ttl+1 || i < 0 || !list[i].Revoked() || list[i].Name != "ci" {
			t.Errorf("List = %+v, %v; want %d keys, %s revoked", list, err, ttl+1, k.ID)
		}
	}
}

// TestLinks runs a shared link's life against the real ClickHouse.
func TestLinks(t *testing.T) {
	_, conn := chtest.New(t)
	ctx := context.Background()
	secret := []byte(strings.Repeat("s", 32))
	for _, ttl := range []int{0, 1} {
		links := auth.NewLinks(conn, secret, time1s(ttl))
		l, token, err := links.Create(ctx, "", auth.Scope{Kind: auth.ScopeGroup, Value: "g1"})
		if err != nil {
			t.Fatal(err)
		}
		if l.Name != "group g1" || token != links.Token(l) {
			t.Errorf("created %+v with token %q", l, token)
		}
		f := func(token string, want error) {
			t.Helper()
			got, err := links.Open(ctx, token)
			if !errors.Is(err, want) || err == nil && got.Scope != l.Scope {
				t.Errorf("Open(%q) = %+v, %v; want %v", token, got, err, want)
			}
		}
		f(token, nil)
		f(token, nil) // again, from the cache when there is one
		other := links.Token(auth.Link{ID: l.ID, Scope: auth.Scope{Kind: auth.ScopeGroup, Value: "g2"}})
		f(other, auth.ErrLinkInvalid) // signed for another scope
		f(strings.Repeat("0", 16)+other[16:], auth.ErrLinkInvalid)
		f("nonsense", auth.ErrLinkInvalid)
		if _, _, err := links.Create(ctx, "", auth.Scope{Kind: "everything"}); err == nil {
			t.Error("a link to everything was created")
		}

		if err := links.Revoke(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
		if err := links.Revoke(ctx, "0000000000000000"); !errors.Is(err, auth.ErrLinkNotFound) {
			t.Errorf("revoking no link: %v", err)
		}
		f(token, auth.ErrLinkRevoked)
		list, err := links.List(ctx)
		i := slices.IndexFunc(list, func(x auth.Link) bool { return x.ID == l.ID })
		if err != nil || len(list) != ttl+1 || i < 0 || !list[i].Revoked() || list[i].Scope != l.Scope {
			t.Errorf("List = %+v, %v; want %d links, %s revoked", list, err, ttl+1, l.ID)
		}
	}
}

func time1s(n int) time.Duration { return time.Duration(n) * time.Second }
