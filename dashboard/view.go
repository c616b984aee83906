package dashboard

import (
	"net/url"
	"time"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/internal/auth"
)

// view is one page as one viewer sees it: the viewer's scope, the state in
// the address, and, on a credential's page, that credential.
type view struct {
	viewer
	State
	credential string // the credential page's id; "" on the overview
	origin     string // scheme://host of this server, for the embed snippet
	now        time.Time
	loc        *time.Location
}

// filters are the filters of every query the view runs. The viewer's scope
// comes first and is always there, whatever the address asks for: this is
// what keeps a shared link inside its group or credential.
func (v view) filters() []query.Filter {
	var fs []query.Filter
	if v.scope.Kind != "" {
		fs = append(fs, query.Filter{Op: "is", Dimension: v.scope.Kind, Values: []string{v.scope.Value}})
	}
	if v.credential != "" {
		fs = append(fs, query.Filter{Op: "is", Dimension: "credential", Values: []string{v.credential}})
	}
	if v.Group != "" && v.scope.Kind != auth.ScopeGroup {
		fs = append(fs, query.Filter{Op: "is", Dimension: "group", Values: []string{v.Group}})
	}
	if v.State.Credential != "" && v.credential == "" && v.scope.Kind != auth.ScopeCredential {
		fs = append(fs, query.Filter{Op: "is", Dimension: "credential", Values: []string{v.State.Credential}})
	}
	if v.Search != "" && v.credential == "" {
		fs = append(fs, query.Filter{Op: "contains", Dimension: "credential_name", Values: []string{v.Search}})
	}
	return fs
}

// query returns a query of the view's current range.
func (v view) query(metrics []string, dims ...string) query.Query {
	return query.Query{
		Metrics:    metrics,
		Dimensions: dims,
		Filters:    v.filters(),
		DateRange:  v.current().dateRange(),
		Timezone:   v.loc.String(),
		Org:        v.scope.Org,
	}
}

// pagePath is the address of the view's page, without the query string.
func (v view) pagePath() string {
	switch {
	case v.credential == "":
		return v.base
	case v.scope.Kind == auth.ScopeCredential:
		return v.base // A credential's link opens on the credential's page.
	default:
		return v.base + "/credentials/" + url.PathEscape(v.credential)
	}
}

// pageURL is the address of the view's page with the state changed by f.
func (v view) pageURL(f func(*State)) string {
	s := v.State
	if f != nil {
		f(&s)
	}
	return v.pagePath() + s.Query()
}

func (v view) sectionURL(name string) string {
	return v.pagePath() + "/sections/" + name + v.State.Query()
}

func (v view) exportURL(name string) string {
	q := v.State.Values()
	q.Set("section", name)
	return v.pagePath() + "/export.csv?" + q.Encode()
}

func (v view) credentialURL(id string) string {
	s := v.State
	s.Credential = ""
	if v.scope.Kind == auth.ScopeCredential {
		return v.base + s.Query()
	}
	return v.base + "/credentials/" + url.PathEscape(id) + s.Query()
}

func (v view) groupURL(id string) string {
	s := v.State
	s.Group = id
	return v.base + s.Query()
}
