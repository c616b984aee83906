package dashboard

import (
	"context"
	"fmt"
	"slices"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/catalog"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/unfurl"
)

// The share reach card: per arrival, the shares made to it and the views
// it brought, in the catalog's terms (see internal/catalog/reach.go).
var reachMetrics = []string{mShares, mViews, catalog.ViewsPerShare.Name, catalog.RecipientShareReach.Name, mVerifications}

func reachQuery(v view) query.Query {
	q := v.query(reachMetrics, catalog.ArrivedFrom.Name)
	q.OrderBy = []query.Order{{Field: mViews, Desc: true}, {Field: catalog.ArrivedFrom.Name}}
	return q
}

// arrivalLabels name the arrivals that are not networks.
var arrivalLabels = map[string]string{
	event.Direct.String(): "Direct",
	event.Site.String():   "Your own site",
	event.Web.String():    "Other websites",
	"":                    "Not recorded",
}

const reachNote = "A network's row counts the shares made to it and the views of visitors who arrived from it: " +
	"by a link the beacon tagged when it was shared, or from the network's site or app as the referrer. " +
	"Views per share is higher where people share without your buttons, since their viewers count and their shares do not. " +
	"Recipient's links: views that came by a link the recipient shared, known only from the link's tag. " +
	"Direct: no referrer; Not recorded: events of the API, and those stored before credstats recorded arrivals."

// reachTable is the card's table: First heads the arrivals, Heads the
// numbers.
type reachTable struct {
	First string
	Heads []string
	Rows  []topRow
	Empty string
	Note  string
	// Path is the share -> arrival -> verification path, in words.
	Path string
}

func loadReach(ctx context.Context, d *Dashboard, v view) (any, error) {
	r, err := d.run(ctx, reachQuery(v))
	if err != nil {
		return nil, err
	}
	t := reachTable{First: "Arrived from", Heads: []string{"Shares", "Views", "Per share", "Recipient's links"}, Note: reachNote}
	credential, withUnfurls := unfurlScope(v)
	withUnfurls = withUnfurls && d.o.Conn != nil
	var unfurls map[string]float64
	if withUnfurls {
		from, to := v.bounds()
		if unfurls, err = unfurl.Counts(ctx, d.o.Conn, credential, from, to); err != nil {
			return nil, err
		}
		t.Heads = append(t.Heads, "Link previews")
		t.Note += " " + unfurlNote
		// A network whose previews were seen, with no share or arrival.
		for n, c := range unfurls {
			if c > 0 && !slices.ContainsFunc(r.Results, func(row query.Row) bool { return firstDim(row) == n }) {
				r.Results = append(r.Results, query.Row{Dimensions: []string{n}, Metrics: make([]float64, len(reachMetrics))})
			}
		}
	}
	var top, shares, arrivals, verified float64
	for _, row := range r.Results {
		if len(row.Dimensions) == 0 {
			continue
		}
		name := row.Dimensions[0]
		if networkLabels[name] != "" {
			shares, arrivals, verified = shares+at(row.Metrics, 0), arrivals+at(row.Metrics, 1), verified+at(row.Metrics, 4)
		}
		label := networkLabels[name]
		if label == "" {
			label = arrivalLabels[name]
		}
		views := at(row.Metrics, 1)
		top = max(top, views)
		bar := 0.0
		if top > 0 {
			bar = views / top * 100
		}
		cells := []string{formatCount(at(row.Metrics, 0)), formatCount(views), formatRatio(at(row.Metrics, 2)), formatCount(at(row.Metrics, 3))}
		if withUnfurls {
			cells = append(cells, formatCount(unfurls[name]))
		}
		t.Rows = append(t.Rows, topRow{Name: name, Label: label, Bar: bar, Cells: cells})
	}
	if len(t.Rows) == 0 {
		t.Empty = "No views or shares in this period."
	}
	if arrivals > 0 || shares > 0 {
		t.Path = fmt.Sprintf("%s shares; %s views by visitors who arrived through shares (also shares made without your buttons); %s verifications by those visitors.",
			formatCount(shares), formatCount(arrivals), formatCount(verified))
	}
	return t, nil
}

const unfurlNote = "Link previews: the hours in which a network's link-preview crawler fetched the credential's social card (/og/ID.png), " +
	"evidence that its link was shared there, also without your buttons; crawler traffic, never counted as views."

// unfurlScope is the credential whose unfurls the view may show, "" for
// all; ok is false where unfurls cannot be scoped as the view is: they
// name no group or organization.
func unfurlScope(v view) (credential string, ok bool) {
	switch {
	case v.scope.Org != "", v.scope.Kind == auth.ScopeGroup, v.Group != "":
		return "", false
	case v.scope.Kind == auth.ScopeCredential:
		return v.scope.Value, true
	case v.credential != "":
		return v.credential, true
	}
	return v.State.Credential, true
}
