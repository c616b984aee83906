package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"slices"
	"sync"
	"time"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/catalog"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/registry"
)

// A section is one card of a page: the queries behind it and how they are
// drawn. Sections load independently, so one slow query delays one card.
type section struct {
	name, title string
	wide        bool
	// overviewOnly sections have no meaning on one credential's page.
	overviewOnly bool
	load         func(ctx context.Context, d *Dashboard, v view) (any, error)
	// export is the query behind the section's CSV: what the card shows.
	export func(v view) query.Query
}

// The metric names of the aggregator.
var (
	mEvents        = catalog.Events.Name
	mViews         = catalog.Views.Name
	mUniqueViewers = catalog.UniqueViewers.Name
	mShares        = catalog.Shares.Name
	mShareRate     = catalog.ShareRate.Name
	mDownloads     = catalog.Downloads.Name
	mVerifications = catalog.Verifications.Name
	mLinkedInAdds  = catalog.LinkedInAdds.Name
	mLinkCopies    = catalog.LinkCopies.Name
)

// metricMeans says what each metric means, in the catalog's words.
var metricMeans = func() map[string]string {
	m := map[string]string{}
	for _, x := range catalog.Metrics {
		m[x.Name] = x.Means
	}
	return m
}()

var metricLabels = map[string]string{
	mEvents:        "Events",
	mViews:         "Views",
	mUniqueViewers: "Unique viewers",
	mShares:        "Shares",
	mShareRate:     "Shares per view",
	mDownloads:     "Downloads",
	mVerifications: "Verifications",
	mLinkedInAdds:  "LinkedIn adds",
	mLinkCopies:    "Link copies",
}

var (
	headlineMetrics = []string{mEvents, mViews, mUniqueViewers, mShares, mShareRate, mDownloads, mVerifications, mLinkedInAdds}
	trendMetrics    = []string{mViews, mUniqueViewers, mShares, mLinkedInAdds, mDownloads, mVerifications}
	actorMetrics    = []string{mViews, mShares, mDownloads, mLinkedInAdds, mVerifications, mLinkCopies}
	funnelMetrics   = []string{mViews, mShares, mLinkedInAdds}
	topMetrics      = []string{mViews, mUniqueViewers, mShares, mLinkedInAdds, mShareRate}
)

const topLimit = 10

func topQuery(v view, dim string) query.Query {
	q := v.query(topMetrics, dim)
	q.OrderBy = []query.Order{{Field: mViews, Desc: true}, {Field: dim}}
	q.Limit = topLimit
	return q
}

func listQuery(v view, dim string) query.Query {
	q := v.query([]string{mViews, mUniqueViewers}, dim)
	q.OrderBy = []query.Order{{Field: mViews, Desc: true}, {Field: dim}}
	q.Limit = topLimit
	return q
}

var sections = []*section{
	{
		name: "headline", title: "At a glance", wide: true,
		load:   loadHeadline,
		export: func(v view) query.Query { return v.query(headlineMetrics) },
	},
	{
		name: "trend", title: "Engagement over time", wide: true,
		load:   loadTrend,
		export: trendQuery,
	},
	{
		name: "networks", title: "Shares by network",
		load:   loadNetworks,
		export: networksQuery,
	},
	{
		name: "reach", title: "Where viewers came from", wide: true,
		load:   loadReach,
		export: reachQuery,
	},
	{
		name: "verifiers", title: "Who checks these credentials", wide: true,
		load:   loadVerifiers,
		export: verifiersQuery,
	},
	{
		name: "actors", title: "Recipients and guests",
		load:   loadActors,
		export: actorsQuery,
	},
	{
		name: "funnel", title: "From view to LinkedIn", wide: true,
		load:   loadFunnel,
		export: funnelQuery,
	},
	{
		name: "credentials", title: "Top credentials", overviewOnly: true,
		load: func(ctx context.Context, d *Dashboard, v view) (any, error) {
			return loadTop(ctx, d, v, catalog.Credential.Name)
		},
		// The CSV has each credential's id and, from the registry, its name.
		export: func(v view) query.Query {
			q := topQuery(v, catalog.Credential.Name)
			q.Dimensions = append(q.Dimensions, "credential_name")
			return q
		},
	},
	{
		name: "groups", title: "Top groups", overviewOnly: true,
		load: func(ctx context.Context, d *Dashboard, v view) (any, error) {
			return loadTop(ctx, d, v, catalog.Group.Name)
		},
		export: func(v view) query.Query { return topQuery(v, catalog.Group.Name) },
	},
	{
		name: "referrers", title: "Top referrers",
		load: func(ctx context.Context, d *Dashboard, v view) (any, error) {
			return loadList(ctx, d, v, catalog.Referrer.Name)
		},
		export: func(v view) query.Query { return listQuery(v, catalog.Referrer.Name) },
	},
	{
		name: "countries", title: "Top countries",
		load: func(ctx context.Context, d *Dashboard, v view) (any, error) {
			return loadList(ctx, d, v, catalog.Country.Name)
		},
		export: func(v view) query.Query { return listQuery(v, catalog.Country.Name) },
	},
}

// sectionsFor returns the sections of the view's page.
func sectionsFor(v view) []*section {
	var out []*section
	for _, s := range sections {
		if s.overviewOnly && v.credential != "" {
			continue
		}
		// A group's link shows its credentials but not a list of one group.
		if s.name == "groups" && (v.scope.Kind == auth.ScopeGroup || v.Group != "") {
			continue
		}
		out = append(out, s)
	}
	return out
}

func findSection(v view, name string) *section {
	i := slices.IndexFunc(sectionsFor(v), func(s *section) bool { return s.name == name })
	if i < 0 {
		return nil
	}
	return sectionsFor(v)[i]
}

// runAll runs the queries at once and returns their results in order.
func (d *Dashboard) runAll(ctx context.Context, qs ...query.Query) ([]query.Result, error) {
	res := make([]query.Result, len(qs))
	errs := make([]error, len(qs))
	var wg sync.WaitGroup
	for i, q := range qs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = d.run(ctx, q)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// totals returns the metrics of a result without dimensions, zeros when it
// has no row.
func totals(r query.Result, n int) []float64 {
	if len(r.Results) == 0 {
		return make([]float64, n)
	}
	return r.Results[0].Metrics
}

// byFirst maps the first dimension of each row to its metrics.
func byFirst(r query.Result) map[string][]float64 {
	m := map[string][]float64{}
	for _, row := range r.Results {
		if len(row.Dimensions) > 0 {
			m[row.Dimensions[0]] = row.Metrics
		}
	}
	return m
}

func at(ms []float64, i int) float64 {
	if i < len(ms) {
		return ms[i]
	}
	return 0
}

// figure is one headline number with its change against the period before.
type figure struct {
	Metric  string
	Label   string
	Means   string // what the number means, in the catalog's words
	Value   float64
	Prev    float64
	HasPrev bool
	Ratio   bool // a ratio such as shares per view, shown with two decimals
}

func (f figure) Display() string { return f.format(f.Value) }

func (f figure) PrevDisplay() string { return f.format(f.Prev) }

func (f figure) format(x float64) string {
	if f.Ratio {
		return formatRatio(x)
	}
	return formatCount(x)
}

// Raw is the exact value, for machines (and the browser tests).
func (f figure) Raw() string { return raw(f.Value) }

type delta struct{ Text, Dir string }

// Delta is the change against the period before, and its direction:
// "up", "down" or "flat".
func (f figure) Delta() delta {
	t, d := f.change()
	return delta{t, d}
}

// change is the relative change against the period before, for ratios as
// for counts: shares per view going from 0.50 to 0.60 is +20%.
func (f figure) change() (string, string) {
	switch {
	case !f.HasPrev:
		return "", ""
	case f.Prev == 0 && f.Value == 0:
		return "no change", "flat"
	case f.Prev == 0:
		return "new", "up"
	}
	pct := (f.Value - f.Prev) / f.Prev * 100
	return signed(pct, 0) + "%", direction(pct)
}

func direction(x float64) string {
	switch {
	case x > 0.05:
		return "up"
	case x < -0.05:
		return "down"
	}
	return "flat"
}

type headline struct {
	Figures   []figure
	Recipient float64 // views by recipients
	Guest     float64
	// HasEvents is false when the scope never had an event.
	HasEvents bool
	// Quiet is true when the range has no event.
	Quiet    bool
	Snippet  string
	Shared   bool
	Compared string // what the changes compare with
}

func (h headline) RecipientShare() float64 {
	if h.Recipient+h.Guest == 0 {
		return 0
	}
	return h.Recipient / (h.Recipient + h.Guest) * 100
}

func loadHeadline(ctx context.Context, d *Dashboard, v view) (any, error) {
	cur := v.query(headlineMetrics)
	actors := v.query([]string{mViews}, catalog.Actor.Name)
	qs := []query.Query{cur, actors}
	prior, hours, hasPrev := v.prior()
	if hasPrev {
		prev := cur
		prev.DateRange = prior.dateRange()
		if hours {
			prev.Dimensions = []string{"time:hour"}
			prev.Limit = 100
		}
		qs = append(qs, prev)
	}
	res, err := d.runAll(ctx, qs...)
	if err != nil {
		return nil, err
	}
	now := totals(res[0], len(headlineMetrics))
	h := headline{HasEvents: true, Shared: v.link, Snippet: snippet(v.origin)}
	var before []float64
	if hasPrev {
		if hours {
			from, _ := v.bounds()
			before = sumHours(res[2], from.Add(-24*time.Hour), from)
			h.Compared = "Compared with the 24 hours before"
		} else {
			before = totals(res[2], len(headlineMetrics))
			h.Compared = "Compared with " + describeDays(prior)
		}
	}
	for i, m := range headlineMetrics {
		if m == mEvents {
			continue
		}
		f := figure{Metric: m, Label: metricLabels[m], Means: metricMeans[m], Value: at(now, i), Ratio: m == mShareRate}
		// Unique viewers of single hours do not add up to those of a day.
		if hasPrev && !(hours && m == mUniqueViewers) {
			f.HasPrev, f.Prev = true, at(before, i)
		}
		h.Figures = append(h.Figures, f)
	}
	byActor := byFirst(res[1])
	h.Recipient, h.Guest = at(byActor[event.Recipient.String()], 0), at(byActor[event.Guest.String()], 0)
	if at(now, 0) == 0 {
		h.Quiet = true
		all := v.query([]string{mEvents})
		all.DateRange = query.DateRange{Preset: "all"}
		r, err := d.run(ctx, all)
		if err != nil {
			return nil, err
		}
		h.HasEvents = at(totals(r, 1), 0) > 0
	}
	return h, nil
}

// sumHours adds up the headline metrics of the hours in [from, to) of an
// hourly series; the share rate is worked out again from the sums.
func sumHours(r query.Result, from, to time.Time) []float64 {
	sum := make([]float64, len(headlineMetrics))
	for _, row := range r.Results {
		t, err := time.Parse(time.RFC3339, firstDim(row))
		if err != nil || t.Before(from) || !t.Before(to) {
			continue
		}
		for i := range headlineMetrics {
			sum[i] += at(row.Metrics, i)
		}
	}
	views, shares := sum[slices.Index(headlineMetrics, mViews)], sum[slices.Index(headlineMetrics, mShares)]
	rate := 0.0
	if views > 0 {
		rate = shares / views
	}
	sum[slices.Index(headlineMetrics, mShareRate)] = rate
	return sum
}

// snippet is the beacon's embed code for this server.
func snippet(origin string) string {
	return `<script defer src="` + origin + `/beacon.js"
        data-credential="CREDENTIAL-ID" data-group="PROGRAM-ID"></script>`
}

func describeDays(p period) string {
	if p.from.Equal(p.to) {
		return p.from.Format("2 Jan 2006")
	}
	return p.from.Format("2 Jan") + " – " + p.to.Format("2 Jan 2006")
}

// chartSection is a section drawn as one chart, or its empty state.
type chartSection struct {
	Chart  *chart
	Empty  string
	Tables []miniTable
	Note   string // what a reader must know to read the chart right
}

type miniTable struct {
	Head []string
	Rows [][]string
}

func trendQuery(v view) query.Query {
	q := v.query(trendMetrics, v.interval())
	q.OrderBy = []query.Order{{Field: v.interval()}}
	return q
}

func loadTrend(ctx context.Context, d *Dashboard, v view) (any, error) {
	r, err := d.run(ctx, trendQuery(v))
	if err != nil {
		return nil, err
	}
	if allZero(r) {
		return chartSection{Empty: "No activity in this period."}, nil
	}
	return chartSection{Chart: trendChart(v, r)}, nil
}

func networksQuery(v view) query.Query {
	return v.query([]string{mShares}, catalog.Network.Name, catalog.Actor.Name)
}

func loadNetworks(ctx context.Context, d *Dashboard, v view) (any, error) {
	r, err := d.run(ctx, networksQuery(v))
	if err != nil {
		return nil, err
	}
	if allZero(r) {
		return chartSection{Empty: "No shares in this period."}, nil
	}
	return chartSection{Chart: networksChart(r)}, nil
}

func actorsQuery(v view) query.Query { return v.query(actorMetrics, catalog.Actor.Name) }

func loadActors(ctx context.Context, d *Dashboard, v view) (any, error) {
	r, err := d.run(ctx, actorsQuery(v))
	if err != nil {
		return nil, err
	}
	if allZero(r) {
		return chartSection{Empty: "Nobody did anything in this period."}, nil
	}
	return chartSection{Chart: actorsChart(r)}, nil
}

func funnelQuery(v view) query.Query { return v.query(funnelMetrics, catalog.Actor.Name) }

func loadFunnel(ctx context.Context, d *Dashboard, v view) (any, error) {
	r, err := d.run(ctx, funnelQuery(v))
	if err != nil {
		return nil, err
	}
	if allZero(r) {
		return chartSection{Empty: "No views in this period."}, nil
	}
	c, table, note := funnelChart(r)
	return chartSection{Chart: c, Tables: []miniTable{table}, Note: note}, nil
}

func allZero(r query.Result) bool {
	for _, row := range r.Results {
		for _, m := range row.Metrics {
			if m != 0 {
				return false
			}
		}
	}
	return true
}

// topTable is a ranking of credentials or groups.
type topTable struct {
	Dim    string
	Heads  []string
	Rows   []topRow
	Empty  string
	Shared bool
}

type topRow struct {
	Name  string
	Label string
	URL   string
	Cells []string
	Bar   float64 // 0-100: the row's views against the first row's
}

func loadTop(ctx context.Context, d *Dashboard, v view, dim string) (any, error) {
	r, err := d.run(ctx, topQuery(v, dim))
	if err != nil {
		return nil, err
	}
	t := topTable{Dim: dim, Shared: v.link}
	t.Heads = []string{"Views", "Viewers", "Shares", "LinkedIn", "Shares per view"}
	names := d.names(ctx, dim == catalog.Group.Name, r)
	var top float64
	for _, row := range r.Results {
		if len(row.Dimensions) == 0 {
			continue
		}
		name := row.Dimensions[0]
		tr := topRow{Name: name, Label: cmp.Or(names[name], name)}
		if dim == "credential" {
			tr.URL = v.credentialURL(name)
		} else {
			tr.URL = v.groupURL(name)
			if name == "" {
				tr.Label, tr.URL = "(no group)", ""
			}
		}
		for i, m := range topMetrics {
			if m == mShareRate {
				tr.Cells = append(tr.Cells, formatRatio(at(row.Metrics, i)))
			} else {
				tr.Cells = append(tr.Cells, formatCount(at(row.Metrics, i)))
			}
		}
		if top == 0 {
			top = at(row.Metrics, 0)
		}
		if top > 0 {
			tr.Bar = at(row.Metrics, 0) / top * 100
		}
		t.Rows = append(t.Rows, tr)
	}
	if len(t.Rows) == 0 {
		t.Empty = fmt.Sprintf("No %s had any activity in this period.", map[string]string{"credential": "credential", "group": "group"}[dim])
	}
	return t, nil
}

// names are the registry's names of a ranking's credentials or groups;
// without the registry, the ids stand for themselves.
func (d *Dashboard) names(ctx context.Context, groups bool, r query.Result) map[string]string {
	ids := make([]string, 0, len(r.Results))
	for _, row := range r.Results {
		if len(row.Dimensions) > 0 && row.Dimensions[0] != "" {
			ids = append(ids, row.Dimensions[0])
		}
	}
	names, err := registry.Store{Conn: d.o.Conn}.Names(ctx, groups, ids)
	if err != nil {
		d.warn.Warn("cannot read the registry's names", "err", err)
	}
	return names
}

// listTable is a ranking of referrers or countries by views.
type listTable struct {
	Heads []string
	Rows  []topRow
	Empty string
}

func loadList(ctx context.Context, d *Dashboard, v view, dim string) (any, error) {
	r, err := d.run(ctx, listQuery(v, dim))
	if err != nil {
		return nil, err
	}
	t := listTable{Heads: []string{map[string]string{"referrer": "Referrer", "country": "Country"}[dim], "Views", "Viewers"}}
	var top float64
	for _, row := range r.Results {
		if len(row.Dimensions) == 0 || at(row.Metrics, 0) == 0 {
			continue
		}
		name := row.Dimensions[0]
		label := name
		switch {
		case dim == "referrer" && name == "":
			label = "Direct or unknown"
		case dim == "country" && name == "":
			label = "Unknown"
		case dim == "country" && countryNames[name] != "":
			label = countryNames[name]
		}
		if top == 0 {
			top = at(row.Metrics, 0)
		}
		t.Rows = append(t.Rows, topRow{Name: name, Label: label, Bar: at(row.Metrics, 0) / top * 100,
			Cells: []string{formatCount(at(row.Metrics, 0)), formatCount(at(row.Metrics, 1))}})
	}
	if len(t.Rows) == 0 {
		t.Empty = "No views in this period."
	}
	return t, nil
}

// renderSection runs a section and renders its body.
func (d *Dashboard) renderSection(ctx context.Context, s *section, v view) (template.HTML, error) {
	data, err := s.load(ctx, d, v)
	if err != nil {
		return "", err
	}
	return d.fragment("sec-"+s.name, data)
}
