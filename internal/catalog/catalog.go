// Package catalog describes, once, what ClickHouse stores: the events
// table's columns with the sets of its Enum8 columns, the rollup tables
// with the dimensions each holds, and the metrics worked out from a
// rollup's counts. The query engine picks its tables and columns from it,
// the dashboard names dimensions and metrics by it, a new migration
// renders its DDL from it (see package schema), and schema's tests hold it
// against the live schema.
//
// The catalog is the schema as the migrations leave it; the shipped
// migrations keep the text they were applied with.
package catalog

import (
	"slices"

	"github.com/credstats/credstats/internal/event"
)

// Dict stands for the type of a column of repetitive strings, which
// depends on the server: see schema.Features.Dict.
const Dict = "Dict"

// Column is one column of a table.
type Column struct {
	Name string
	// Type is the ClickHouse type, or Dict.
	Type string
	// Enum is the set of an Enum8 column, whose Type is the set's Enum8.
	Enum *event.Enum
	// Materialized is the expression an events column is computed by.
	Materialized string
	// Expr is what a rollup's view selects into the column from the events
	// table; empty for the events column of the same name.
	Expr string
	// Count marks a rollup's counts, which its view aggregates; the other
	// columns of a rollup are the keys it groups by.
	Count bool
	// EventExpr is what the view of a PerEvent table selects into a count
	// from one event, instead of Expr.
	EventExpr string
}

// TypeFor returns the column's type on a server whose Dict type is dict.
func (c Column) TypeFor(dict string) string {
	if c.Type == Dict {
		return dict
	}
	return c.Type
}

// Table is a table's name and columns, in order.
type Table struct {
	Name    string
	Columns []Column
	// Filter is what the events counted in a table fed by a view meet
	// besides bot_reason = '' ("type = 'view'" for a ViewsOnly rollup);
	// empty for the others. Whatever counts events into the table again
	// (a recount) must select the same.
	Filter string
	// PerEvent says the table's view writes a row for every event (its
	// counts' EventExpr) and leaves the sums to the table's merges, where a
	// GROUP BY would save few rows. A recount may still group by its keys
	// with Expr: the sums are the same.
	PerEvent bool
}

// ViewExpr is what the table's view selects into the column.
func (t Table) ViewExpr(c Column) string {
	if t.PerEvent && c.EventExpr != "" {
		return c.EventExpr
	}
	return c.Expr
}

// Column returns the table's column of that name.
func (t Table) Column(name string) (Column, bool) {
	i := slices.IndexFunc(t.Columns, func(c Column) bool { return c.Name == name })
	if i < 0 {
		return Column{}, false
	}
	return t.Columns[i], true
}

func enumColumn(e event.Enum) Column { return Column{Name: e.Field, Type: e.Enum8(), Enum: &e} }

// EventsTable holds one row per accepted event, bots' included.
var EventsTable = Table{Name: "events", Columns: []Column{
	{Name: "id", Type: "UUID"},
	{Name: "time", Type: "DateTime"},
	{Name: "credential", Type: "String"},
	{Name: "group_id", Type: "String"},
	enumColumn(event.TypeEnum),
	enumColumn(event.NetworkEnum),
	enumColumn(event.ActorEnum),
	enumColumn(event.SourceEnum),
	{Name: "visitor", Type: "UInt64"},
	{Name: "url_host", Type: Dict},
	{Name: "url_path", Type: "String"},
	{Name: "referrer_host", Type: Dict},
	{Name: "referrer_path", Type: "String"},
	{Name: "country", Type: Dict},
	{Name: "browser", Type: Dict},
	{Name: "os", Type: Dict},
	enumColumn(event.DeviceEnum),
	enumColumn(event.BotReasonEnum),
	{Name: "bot", Type: "UInt8", Materialized: "bot_reason != ''"},
	// The spool position of the batch that stored the event.
	{Name: "batch", Type: "UInt64"},
	enumColumn(event.ArrivalEnum),
	enumColumn(event.SharerEnum),
}}

// CredentialDaily holds the badge counters' daily counts per credential.
// Unlike the rollups it counts by the server's days and keeps its counts
// as aggregate states, and the query engine does not read it.
var CredentialDaily = Table{Name: "credential_daily", Columns: slices.Concat(
	[]Column{{Name: "day", Type: "Date", Expr: "toDate(time)"}},
	columnsOf(credentialDims),
	[]Column{{Name: "events", Type: "AggregateFunction(count)", Expr: "countState()", Count: true}, visitors},
)}

// Keys are the columns a table fed by a view groups by: all but its
// counts.
func (t Table) Keys() []Column {
	return slices.DeleteFunc(slices.Clone(t.Columns), func(c Column) bool { return c.Count })
}

// Fed lists the tables materialized views feed from events: the badge
// counters' and the rollups', the tables that count.
func Fed() []Table {
	return slices.DeleteFunc(Tables(), func(t Table) bool { return !slices.ContainsFunc(t.Columns, func(c Column) bool { return c.Count }) })
}

// Tables lists every table the catalog describes.
func Tables() []Table {
	ts := []Table{EventsTable, CredentialDaily}
	for _, r := range Rollups {
		ts = append(ts, r.Table())
	}
	return append(ts, UnfurlsTable)
}
