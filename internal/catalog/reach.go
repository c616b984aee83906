package catalog

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/credstats/credstats/internal/event"
)

// Share reach: how visitors arrived (event.Arrival) and who shared the
// link they came by, counted in a rollup of its own so that the others,
// which every query without these dimensions reads, stay as small.
var (
	ArrivedFrom = dimension("arrived_from", "arrived_from")
	SharedBy    = dimension("shared_by", "shared_by")
)

// The rollups with the arrival: by group and UTC day, for whole days in
// UTC, and per credential by quarter hour, which serves every range and
// time zone.
var (
	ReachDaily = Rollup{Name: "reach_daily", Grain: Daily, Dims: slices.Concat(groupDims, []Dimension{ArrivedFrom, SharedBy})}
	Reach      = Rollup{Name: "reach_15m", Grain: QuarterHour, Dims: slices.Concat(credentialDims, []Dimension{ArrivedFrom, SharedBy}), PerEvent: true}
)

// fromShare holds the views of visitors who came through a share.
var fromShare = "type = 'view' AND arrived_from IN ('" + strings.Join(event.ArrivalNames(), "', '") + "')"

// The share reach metrics.
var (
	ViewsFromShares = Metric{"views_from_shares", "toFloat64(sumIf(events, " + fromShare + "))",
		"views by visitors who arrived through a share on a network, known from the link's tag (a share made with the beacon) or from the network's site or app as the referrer (a share made any other way)" + counted}
	ViewsPerShare = Metric{"views_per_share", fmt.Sprintf("if(%[1]s = 0, 0, sumIf(events, %[2]s) / %[1]s)", sumOf(event.Share), fromShare),
		"views from shares divided by shares, 0 without shares; broken down by arrived_from, the views a network brought per share made to it (a share counts under the network it went to); a ratio, not a percentage, which shares made without the beacon raise, since their viewers count and the shares do not"}
	RecipientShareReach = Metric{"recipient_share_reach", "toFloat64(sumIf(events, type = 'view' AND shared_by = 'recipient'))",
		"views by visitors who arrived through a link the credential's recipient shared, known from the link's tag; arrivals known only from the referrer have no known sharer and are not counted here" + counted}
)

// Dims lists the dimensions whose columns the metric reads: a rollup
// without one of them cannot answer it.
func (m Metric) Dims() []Dimension {
	var ds []Dimension
	for _, d := range Dimensions {
		if regexp.MustCompile(`\b` + d.Column.Name + `\b`).MatchString(m.SQL) {
			ds = append(ds, d)
		}
	}
	return ds
}

// UnfurlsTable holds the fetches of credentials' social cards (GET
// /og/ID.png) by networks' link-preview crawlers: evidence that a link was
// shared there, with or without the page's buttons. It is crawler traffic,
// never a view, and counted once per credential, network and hour when
// read (package unfurl).
var UnfurlsTable = Table{Name: "unfurls", Columns: []Column{
	{Name: "time", Type: "DateTime"},
	{Name: "credential", Type: "String"},
	enumColumn(event.NetworkEnum),
	{Name: "crawler", Type: Dict},
}}
