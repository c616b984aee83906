package dashboard

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/internal/auth"
)

// recorder is an Engine that answers nothing and keeps every query, to
// check what the dashboard asks for.
type recorder struct {
	mu sync.Mutex
	qs []query.Query
}

func (r *recorder) Export(context.Context, query.Query) (*query.Cursor, error) {
	return nil, errors.New("recorder: no export")
}

func (r *recorder) Page(_ context.Context, q query.Query) (query.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.qs = append(r.qs, q)
	return query.Result{}, nil
}

// TestScopeInEveryQuery checks the server-side half of a shared link's
// scope: whatever the address asks for, every query a scoped viewer's page
// runs, sections and CSVs alike, is filtered to the scope, and no filter
// names another group or credential in a way that could widen it.
func TestScopeInEveryQuery(t *testing.T) {
	states := []State{
		{Range: "30d"},
		{Range: "7d", Group: "other-group"},
		{Range: "all", Credential: "other-credential"},
		{Range: "custom", From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), Group: "g", Credential: "c"},
	}
	scopes := []auth.Scope{{Kind: auth.ScopeGroup, Value: "g1"}, {Kind: auth.ScopeCredential, Value: "c1"}}
	for _, scope := range scopes {
		for _, st := range states {
			for _, page := range []string{"", "c1", "c2"} {
				rec := &recorder{}
				d := New(Options{Engine: rec, Secret: []byte("0123456789abcdef0123456789abcdef"), CacheTTL: -1})
				v := view{viewer: viewer{base: "/dashboard/s/x", scope: scope, link: true}, State: st, credential: page, now: time.Now(), loc: time.UTC}
				if scope.Kind == auth.ScopeCredential {
					v.credential, v.State.Credential = scope.Value, ""
				}
				for _, s := range sectionsFor(v) {
					if _, err := s.load(context.Background(), d, v); err != nil {
						t.Fatal(err)
					}
					rec.qs = append(rec.qs, s.export(v))
				}
				if len(rec.qs) == 0 {
					t.Fatal("no queries ran")
				}
				for _, q := range rec.qs {
					if len(q.Filters) == 0 || !slices.Equal(q.Filters[0].Values, []string{scope.Value}) || q.Filters[0].Dimension != scope.Kind || q.Filters[0].Op != "is" {
						t.Errorf("scope %v, state %+v, page %q: query %+v does not start with the scope's filter", scope, st, page, q)
					}
					for _, f := range q.Filters {
						if f.Op != "is" {
							t.Errorf("scope %v: filter %+v is not an \"is\" filter", scope, f)
						}
						if f.Dimension == scope.Kind && !slices.Equal(f.Values, []string{scope.Value}) {
							t.Errorf("scope %v: filter %+v names another %s", scope, f, scope.Kind)
						}
					}
				}
			}
		}
	}
}

func TestFiltersFromState(t *testing.T) {
	v := view{viewer: viewer{base: "/dashboard"}, State: State{Range: "30d", Group: "g", Credential: "c"}, now: time.Now(), loc: time.UTC}
	got := v.filters()
	want := []query.Filter{{Op: "is", Dimension: "group", Values: []string{"g"}}, {Op: "is", Dimension: "credential", Values: []string{"c"}}}
	if !slices.EqualFunc(got, want, func(a, b query.Filter) bool {
		return a.Op == b.Op && a.Dimension == b.Dimension && slices.Equal(a.Values, b.Values)
	}) {
		t.Errorf("filters = %+v, want %+v", got, want)
	}
	// On a credential's page the page's credential wins over the filter.
	v.credential = "page"
	got = v.filters()
	if len(got) != 2 || got[0].Dimension != "credential" || got[0].Values[0] != "page" || got[1].Dimension != "group" {
		t.Errorf("credential page filters = %+v", got)
	}
}

func TestPrior(t *testing.T) {
	now := time.Date(2026, 3, 31, 12, 30, 0, 0, time.UTC)
	f := func(st State, want string) {
		t.Helper()
		v := view{State: st, now: now, loc: time.UTC}
		p, hours, ok := v.prior()
		got := "none"
		if ok {
			got = p.from.Format(time.DateOnly) + " " + p.to.Format(time.DateOnly)
			if hours {
				got += " hours"
			}
		}
		if got != want {
			t.Errorf("prior of %+v = %s, want %s", st, got, want)
		}
	}
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	f(State{Range: "today"}, "2026-03-30 2026-03-30")
	f(State{Range: "24h"}, "2026-03-29 2026-03-30 hours")
	f(State{Range: "7d"}, "2026-03-18 2026-03-24")
	f(State{Range: "30d"}, "2026-01-31 2026-03-01")
	f(State{Range: "month"}, "2026-02-01 2026-02-28")
	f(State{Range: "12mo"}, "2024-04-01 2025-03-31")
	f(State{Range: "all"}, "none")
	f(State{Range: "custom", From: day("2026-03-10"), To: day("2026-03-19")}, "2026-02-28 2026-03-09")
}
