package query

import (
	"slices"

	"github.com/credstats/credstats/internal/catalog"
	"github.com/credstats/credstats/internal/registry"
)

// The registry's dimensions: what the credential registry says of each
// credential, joined to a per-credential rollup by its id. A credential
// the registry does not know has its id for a name, its group's id for a
// group name, and "" (unknown) for the rest.
var registryColumns = map[string]string{
	"credential_name": "if(r_name = '', credential, r_name)",
	"group_name":      "if(r_group_name = '', group_id, r_group_name)",
	"recipient_name":  "r_recipient_name",
	"status":          "r_status",
	"issue_month":     "if(r_issued_at = toDateTime(0), '', toString(toStartOfMonth(toDate(r_issued_at, 'UTC'))))",
	// days_since_issue needs the rollup's day: see sinceIssue.
	"days_since_issue": "",
}

// DaysSinceIssue are the buckets of days_since_issue: the days from the
// credential's issue to the event, by UTC day.
var DaysSinceIssue = []string{"unknown", "before issue", "0-7", "8-30", "31-90", "91+"}

// registrySQL is the registry's latest entry of each credential, as the
// join reads it.
const registrySQL = ` ANY LEFT JOIN (SELECT id AS credential, argMax(name, version) AS r_name,
argMax(group_name, version) AS r_group_name, argMax(recipient_name, version) AS r_recipient_name,
toString(argMax(status, version)) AS r_status, argMax(issued_at, version) AS r_issued_at
FROM credentials GROUP BY id) USING credential`

func init() {
	for _, d := range []string{"credential_name", "group_name", "recipient_name", "issue_month", "status", "days_since_issue"} {
		dimensions = append(dimensions, d)
		columns[d] = registryColumns[d]
	}
	enumValues["status"] = append([]string{""}, registry.Statuses...)
	enumValues["days_since_issue"] = DaysSinceIssue
}

// isRegistryDimension reports whether the dimension comes from the
// registry.
func isRegistryDimension(d string) bool {
	_, ok := registryColumns[d]
	return ok
}

// needsRegistry reports whether the query groups or filters by the
// registry's dimensions.
func needsRegistry(q Query) bool {
	return slices.ContainsFunc(q.Dimensions, isRegistryDimension) ||
		slices.ContainsFunc(q.Filters, func(f Filter) bool { return isRegistryDimension(f.Dimension) })
}

// sinceIssue buckets the days from issue to a rollup row's day.
func sinceIssue(t catalog.Rollup) string {
	day := "day"
	if t.Grain == catalog.QuarterHour {
		day = "toDate(t)"
	}
	diff := "(toInt64(" + day + ") - toInt64(toDate(r_issued_at, 'UTC')))"
	return "multiIf(r_issued_at = toDateTime(0), 'unknown', " + diff + " < 0, 'before issue', " + diff + " <= 7, '0-7', " +
		diff + " <= 30, '8-30', " + diff + " <= 90, '31-90', '91+')"
}
