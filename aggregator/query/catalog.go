package query

import (
	"fmt"
	"slices"
	"strings"

	"github.com/credstats/credstats/internal/event"
)

// metrics lists the metric names, in documentation order.
var metrics = []string{"events", "views", "unique_viewers", "shares", "downloads", "verifications", "linkedin_adds", "link_copies", "share_rate"}

// dimensions lists the dimension names, in documentation order.
var dimensions = []string{"type", "network", "actor", "credential", "group", "referrer", "country", "browser", "os", "device", "source",
	"time:hour", "time:day", "time:week", "time:month"}

func isTimeDimension(d string) bool { return strings.HasPrefix(d, "time:") }

// enumValues are the values a dimension with a closed set can take; a
// filter naming another value is a mistake worth reporting.
var enumValues = map[string][]string{
	"type":    names(event.Types()),
	"network": append([]string{""}, names(event.Networks())...),
	"actor":   {"guest", "recipient"},
	"device":  {"unknown", "desktop", "mobile", "tablet", "bot"},
	"source":  {"beacon", "pixel", "api"},
}

func names[T fmt.Stringer](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}

// rollup is a table the engine can read: its time column counts UTC days
// (day, a Date) or quarter hours (t, a DateTime).
type rollup struct {
	name  string
	daily bool
	has   []string // dimensions it can group and filter by
}

var (
	totalDims   = []string{"type", "network", "actor"}
	coreDims    = append([]string{"group"}, totalDims...)
	trafficDims = []string{"referrer", "country", "browser", "os", "device", "source"}
	withCred    = append([]string{"credential"}, coreDims...)
	// rollups in the order they are tried: smaller tables first.
	rollups = []rollup{
		{"totals_daily", true, totalDims},
		{"totals_15m", false, totalDims},
		{"group_daily", true, coreDims},
		{"group_15m", false, coreDims},
		{"credential_15m", false, withCred},
		{"traffic_daily", true, append(slices.Clone(coreDims), trafficDims...)},
		{"traffic_15m", false, append(slices.Clone(coreDims), trafficDims...)},
		{"credential_traffic_15m", false, append(slices.Clone(withCred), trafficDims...)},
	}
)

// columns maps a dimension to its column in every rollup.
var columns = map[string]string{
	"type": "type", "network": "network", "actor": "actor", "credential": "credential", "group": "group_id",
	"referrer": "referrer_host", "country": "country", "browser": "browser", "os": "os", "device": "device", "source": "source",
}

// metricSQL computes each metric over a rollup's events and visitors.
var metricSQL = map[string]string{
	"events":         "toFloat64(sum(events))",
	"views":          "toFloat64(sumIf(events, type = 'view'))",
	"unique_viewers": "toFloat64(uniqMergeIf(visitors, type = 'view'))",
	"shares":         "toFloat64(sumIf(events, type = 'share'))",
	"downloads":      "toFloat64(sumIf(events, type = 'download'))",
	"verifications":  "toFloat64(sumIf(events, type = 'verify'))",
	"linkedin_adds":  "toFloat64(sumIf(events, type = 'linkedin_add'))",
	"link_copies":    "toFloat64(sumIf(events, type = 'link_copy'))",
	"share_rate":     "if(sumIf(events, type = 'view') = 0, 0, sumIf(events, type = 'share') / sumIf(events, type = 'view'))",
}
