package catalog

import (
	"fmt"
	"slices"

	"github.com/credstats/credstats/internal/event"
)

// Dimension is what a query groups and filters by, with the column that
// holds it in the events table and in every rollup that has it.
type Dimension struct {
	Name   string
	Column Column
}

func dimension(name, column string) Dimension {
	c, ok := EventsTable.Column(column)
	if !ok {
		panic("catalog: no events column " + column)
	}
	return Dimension{Name: name, Column: c}
}

// The dimensions but time.
var (
	Type       = dimension("type", "type")
	Network    = dimension("network", "network")
	Actor      = dimension("actor", "actor")
	Credential = dimension("credential", "credential")
	Group      = dimension("group", "group_id")
	Referrer   = dimension("referrer", "referrer_host")
	Country    = dimension("country", "country")
	Browser    = dimension("browser", "browser")
	OS         = dimension("os", "os")
	Device     = dimension("device", "device")
	Source     = dimension("source", "source")
)

// Dimensions lists the dimensions but time, in documentation order.
var Dimensions = []Dimension{Type, Network, Actor, Credential, Group, Referrer, Country, Browser, OS, Device, Source, ArrivedFrom, SharedBy}

// Grain is the step of a rollup's time column, in UTC.
type Grain uint8

const (
	// Daily rollups count by day, in a Date column `day`.
	Daily Grain = iota + 1
	// QuarterHour rollups count by quarter hour, in a DateTime column `t`:
	// fine enough to re-bucket into the hours and days of any time zone.
	QuarterHour
)

// Column is the time column of a rollup of this grain.
func (g Grain) Column() Column {
	if g == Daily {
		return Column{Name: "day", Type: "Date", Expr: "toDate(time, 'UTC')"}
	}
	return Column{Name: "t", Type: "DateTime", Expr: "toStartOfFifteenMinutes(time)"}
}

// Rollup is a table of counts by time and some dimensions, bots left out,
// fed from the events table by a materialized view named Name+"_mv".
type Rollup struct {
	Name  string
	Grain Grain
	Dims  []Dimension
	// ViewsOnly rollups count the views alone: one unique-viewer state a
	// day (and group) where the others keep one for every type, network
	// and actor, so a series of unique viewers merges one state a step.
	// Their type column, always 'view', keeps the metrics' SQL as it is;
	// they serve only what Serves allows.
	ViewsOnly bool
	// PerEvent rollups hold about a row an event (per credential and
	// quarter hour, most credentials see a handful of events a day): their
	// views write a row for every event, since grouping a block by a dozen
	// string keys cost more than the rows it saved (see Table.PerEvent).
	PerEvent bool
}

// viewMetrics are the metrics that read views alone.
var viewMetrics = []string{"views", "unique_viewers"}

// Serves reports whether the rollup may answer these metrics grouped or
// filtered by these dimensions, given that it has each of them: a
// ViewsOnly rollup answers only metrics of views, and nothing grouped or
// filtered by type, whose other values it does not hold.
func (r Rollup) Serves(metrics, dims []string) bool {
	if !r.ViewsOnly {
		return true
	}
	for _, m := range metrics {
		if !slices.Contains(viewMetrics, m) {
			return false
		}
	}
	return !slices.Contains(dims, Type.Name)
}

// visitors holds the unique-viewer state of the events that have a
// visitor: API events have none (0), and count in events but not here.
var visitors = Column{Name: "visitors", Type: "AggregateFunction(uniq, UInt64)", Expr: "uniqStateIf(visitor, visitor != 0)", Count: true,
	EventExpr: "arrayReduce('uniqStateIf', [visitor], [visitor != 0])"}

// counts are the columns every rollup counts into.
var counts = []Column{{Name: "events", Type: "UInt64", Expr: "count()", Count: true, EventExpr: "toUInt64(1)"}, visitors}

// Keys are the columns the rollup groups by: its time, then its
// dimensions.
func (r Rollup) Keys() []Column { return append([]Column{r.Grain.Column()}, columnsOf(r.Dims)...) }

// Columns are the rollup's columns: its keys, then its counts.
func (r Rollup) Columns() []Column { return append(r.Keys(), counts...) }

// Table is the rollup's table.
func (r Rollup) Table() Table {
	t := Table{Name: r.Name, Columns: r.Columns(), PerEvent: r.PerEvent}
	if r.ViewsOnly {
		t.Filter = isType(event.View)
	}
	return t
}

// Has reports whether the rollup holds the dimension named dim.
func (r Rollup) Has(dim string) bool {
	return slices.ContainsFunc(r.Dims, func(d Dimension) bool { return d.Name == dim })
}

func columnsOf(dims []Dimension) []Column {
	cs := make([]Column, len(dims))
	for i, d := range dims {
		cs[i] = d.Column
	}
	return cs
}

var (
	totalDims      = []Dimension{Type, Network, Actor}
	groupDims      = append([]Dimension{Group}, totalDims...)
	credentialDims = append([]Dimension{Credential}, groupDims...)
	trafficDims    = []Dimension{Source, Device, Country, Browser, OS, Referrer}
)

// Rollups lists the rollups in the order the query engine tries them:
// smaller tables first.
var Rollups = []Rollup{
	{Name: "views_daily", Grain: Daily, Dims: []Dimension{Type}, ViewsOnly: true},
	{Name: "group_views_daily", Grain: Daily, Dims: []Dimension{Group, Type}, ViewsOnly: true},
	{Name: "totals_daily", Grain: Daily, Dims: totalDims},
	{Name: "totals_15m", Grain: QuarterHour, Dims: totalDims},
	{Name: "group_daily", Grain: Daily, Dims: groupDims},
	{Name: "group_15m", Grain: QuarterHour, Dims: groupDims},
	{Name: "traffic_daily", Grain: Daily, Dims: slices.Concat(groupDims, trafficDims)},
	{Name: "traffic_15m", Grain: QuarterHour, Dims: slices.Concat(groupDims, trafficDims)},
	// Also what a query by credential without the traffic dimensions
	// reads: as fast for a credential as a rollup without them, since
	// both hold about a row an event.
	{Name: "credential_traffic_15m", Grain: QuarterHour, Dims: slices.Concat(credentialDims, trafficDims), PerEvent: true},
	ReachDaily,
	Reach,
}

// Metric is a number a query asks for, worked out in SQL from a rollup's
// counts, with what it means to a reader: the API's document, the
// dashboard and the README say Means in these words.
type Metric struct {
	Name  string
	SQL   string
	Means string
}

// counted is what every count leaves out.
const counted = "; bots, and a browser's repeats of the same action within 24 hours, are left out"

// The metrics.
var (
	Events = Metric{"events", "toFloat64(sum(events))",
		"every counted event: views, shares, downloads, verifications, LinkedIn adds and link copies" + counted}
	Views         = countOf("views", event.View, "views of credential pages")
	UniqueViewers = Metric{"unique_viewers", "toFloat64(uniqMergeIf(visitors, " + isType(event.View) + "))",
		"people whose browsers viewed, each counted once a day (the visitor hash changes daily, so a person who returns on another day counts again in a longer range); views sent through the authenticated API have no person behind them and are not counted; approximate above about 65,000"}
	Shares        = countOf("shares", event.Share, "shares to any network")
	Downloads     = countOf("downloads", event.Download, "downloads of the credential")
	Verifications = countOf("verifications", event.Verify, "verifications of the credential")
	LinkedInAdds  = countOf("linkedin_adds", event.LinkedInAdd, "additions to a LinkedIn profile")
	LinkCopies    = countOf("link_copies", event.LinkCopy, "copies of the credential's link")
	ShareRate     = Metric{"share_rate", fmt.Sprintf("if(%[1]s = 0, 0, %[2]s / %[1]s)", sumOf(event.View), sumOf(event.Share)),
		"shares per view: shares divided by views, 0 without views; a ratio, not a percentage, above 1 when viewers share to several networks or shares arrive through the API without page views"}
)

// Metrics lists the metrics in documentation order.
var Metrics = []Metric{Events, Views, UniqueViewers, Shares, Downloads, Verifications, LinkedInAdds, LinkCopies, ShareRate,
	ViewsFromShares, ViewsPerShare, RecipientShareReach}

func countOf(name string, t event.Type, what string) Metric {
	return Metric{name, "toFloat64(" + sumOf(t) + ")", what + counted}
}

func sumOf(t event.Type) string { return "sumIf(events, " + isType(t) + ")" }

func isType(t event.Type) string { return "type = '" + t.String() + "'" }
