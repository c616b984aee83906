// Package query answers stats queries over ClickHouse's rollup tables: the
// query model and its JSON, the catalog of rollups, the planner, the SQL
// it writes and the executors that read the rows back. It knows nothing of
// HTTP: a query the client has to fix is an *Error naming the field.
package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Query asks for metrics, split by dimensions, over a date range: the body
// of POST /api/v1/query, in the spirit of Plausible's Stats API v2.
type Query struct {
	Metrics    []string  `json:"metrics"`
	Dimensions []string  `json:"dimensions"`
	Filters    []Filter  `json:"filters"`
	DateRange  DateRange `json:"date_range"`
	Timezone   string    `json:"timezone"`
	OrderBy    []Order   `json:"order_by"`
	Limit      int       `json:"limit"`
	Offset     int       `json:"offset"`
	// Org keeps the query to the credentials of one organization (see
	// orgCredentials). The server sets it from the viewer's key or link,
	// never from what a client sends.
	Org string `json:"-"`
}

// Filter keeps the rows whose dimension is (is), is not (is_not) or
// contains one of the values. In JSON: ["is", "network", ["linkedin"]].
type Filter struct {
	Op        string
	Dimension string
	Values    []string
}

// DateRange is a preset ("today", "24h", "7d", "30d", "month", "12mo",
// "all") or, with Preset empty, the calendar days From to To, both
// included. In JSON: "7d" or ["2026-01-01", "2026-01-31"].
type DateRange struct {
	Preset   string
	From, To time.Time
}

// Order sorts by a metric or dimension of the query. In JSON:
// ["views", "desc"].
type Order struct {
	Field string
	Desc  bool
}

// Row is one result row: the dimension values in the query's order, then
// the metrics in the query's order.
type Row struct {
	Dimensions []string  `json:"dimensions"`
	Metrics    []float64 `json:"metrics"`
}

// Result is a page of rows, how many rows the query has in all, and the
// query as it was run, with its defaults filled in.
type Result struct {
	Results   []Row `json:"results"`
	TotalRows int   `json:"total_rows"`
	Query     Query `json:"query"`
}

const (
	defaultLimit = 100
	maxLimit     = 10_000
	maxFilters   = 50
	// MaxValues and MaxValueLen bound one filter's values.
	MaxValues   = 1000
	MaxValueLen = 2000
	// maxOffset bounds the rows a query may skip: skipped rows cost as much
	// as read ones, and pages that deep are better read by an export.
	maxOffset = 1_000_000
)

// presets lists the named date ranges.
var presets = []string{"today", "24h", "7d", "30d", "month", "12mo", "all"}

// ops lists the filter operators.
var ops = []string{"is", "is_not", "contains"}

func (f Filter) MarshalJSON() ([]byte, error) {
	values := f.Values
	if values == nil {
		values = []string{}
	}
	return json.Marshal([]any{f.Op, f.Dimension, values})
}

func (f *Filter) UnmarshalJSON(b []byte) error {
	var parts []json.RawMessage
	bad := invalid("filters", `each filter is ["is"|"is_not"|"contains", dimension, [values...]], got %s`, shorten(b))
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) != 3 {
		return bad
	}
	var nf Filter
	if json.Unmarshal(parts[0], &nf.Op) != nil || json.Unmarshal(parts[1], &nf.Dimension) != nil || json.Unmarshal(parts[2], &nf.Values) != nil {
		return bad
	}
	*f = nf
	return nil
}

func (r DateRange) MarshalJSON() ([]byte, error) {
	switch {
	case r.Preset != "":
		return json.Marshal(r.Preset)
	case r.From.IsZero() && r.To.IsZero():
		return []byte("null"), nil
	}
	return json.Marshal([]string{r.From.Format(time.DateOnly), r.To.Format(time.DateOnly)})
}

func (r *DateRange) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*r = DateRange{}
		return nil
	}
	var preset string
	if json.Unmarshal(b, &preset) == nil {
		*r = DateRange{Preset: preset}
		return nil
	}
	var days []string
	if err := json.Unmarshal(b, &days); err != nil || len(days) != 2 {
		return invalid("date_range", `want one of %s or two dates ["2026-01-01", "2026-01-31"], got %s`, strings.Join(presets, ", "), shorten(b))
	}
	var nr DateRange
	var err error
	if nr.From, err = time.Parse(time.DateOnly, days[0]); err != nil {
		return invalid("date_range", "%q is not a date like 2026-01-31", days[0])
	}
	if nr.To, err = time.Parse(time.DateOnly, days[1]); err != nil {
		return invalid("date_range", "%q is not a date like 2026-01-31", days[1])
	}
	*r = nr
	return nil
}

func (o Order) MarshalJSON() ([]byte, error) {
	dir := "asc"
	if o.Desc {
		dir = "desc"
	}
	return json.Marshal([]string{o.Field, dir})
}

func (o *Order) UnmarshalJSON(b []byte) error {
	var parts []string
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) != 2 || (parts[1] != "asc" && parts[1] != "desc") {
		return invalid("order_by", `each entry is [field, "asc"|"desc"], got %s`, shorten(b))
	}
	*o = Order{Field: parts[0], Desc: parts[1] == "desc"}
	return nil
}

func shorten(b []byte) string {
	s := string(bytes.TrimSpace(b))
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// DecodeQuery reads a query from JSON; unknown fields and wrong types are
// errors naming the field.
func DecodeQuery(b []byte) (Query, error) {
	var q Query
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return Query{}, jsonError(err)
	}
	if dec.More() {
		return Query{}, invalid("body", "holds more than one JSON value")
	}
	return q, nil
}

func jsonError(err error) error {
	var e *Error
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return invalid("body", "must be a JSON object")
		}
		if i := strings.IndexByte(field, '.'); i > 0 {
			field = field[:i]
		}
		return invalid(field, "must not be a JSON %s", typeErr.Value)
	case errors.As(err, &syntaxErr):
		return invalid("body", "not valid JSON at byte %d: %v", syntaxErr.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(field, "unknown field; a query has metrics, dimensions, filters, date_range, timezone, order_by, limit and offset")
	}
	return invalid("body", "cannot read the query: %v", err)
}

// normalize checks q and fills in its defaults. export lifts the limit's
// default and maximum: an export without a limit has every row.
func normalize(q Query, export bool) (Query, *time.Location, error) {
	if len(q.Metrics) == 0 {
		return q, nil, invalid("metrics", "name at least one of %s", strings.Join(metrics, ", "))
	}
	for i, m := range q.Metrics {
		if !slices.Contains(metrics, m) {
			return q, nil, invalid("metrics", "%q is not a metric; use %s", m, strings.Join(metrics, ", "))
		}
		if slices.Contains(q.Metrics[:i], m) {
			return q, nil, invalid("metrics", "%q is named twice", m)
		}
	}
	timeDims := 0
	for i, d := range q.Dimensions {
		if !slices.Contains(dimensions, d) {
			return q, nil, invalid("dimensions", "%q is not a dimension; use %s", d, strings.Join(dimensions, ", "))
		}
		if slices.Contains(q.Dimensions[:i], d) {
			return q, nil, invalid("dimensions", "%q is named twice", d)
		}
		if isTimeDimension(d) {
			timeDims++
		}
	}
	if timeDims > 1 {
		return q, nil, invalid("dimensions", "name at most one time dimension")
	}
	if len(q.Filters) > maxFilters {
		return q, nil, invalid("filters", "at most %d filters", maxFilters)
	}
	for i, f := range q.Filters {
		if err := checkFilter(f); err != nil {
			return q, nil, invalid(fmt.Sprintf("filters[%d]", i), "%s", err)
		}
	}
	if q.DateRange.Preset == "" && q.DateRange.From.IsZero() && q.DateRange.To.IsZero() {
		q.DateRange.Preset = "30d"
	}
	if err := checkDateRange(q.DateRange); err != nil {
		return q, nil, err
	}
	if q.Timezone == "" {
		q.Timezone = "UTC"
	}
	loc, err := time.LoadLocation(q.Timezone)
	if err != nil || q.Timezone == "Local" {
		return q, nil, invalid("timezone", "%q is not an IANA time zone name such as Europe/Berlin", q.Timezone)
	}
	for i, o := range q.OrderBy {
		if !slices.Contains(q.Metrics, o.Field) && !slices.Contains(q.Dimensions, o.Field) {
			return q, nil, invalid(fmt.Sprintf("order_by[%d]", i), "%q is not one of the query's metrics or dimensions", o.Field)
		}
		if slices.ContainsFunc(q.OrderBy[:i], func(p Order) bool { return p.Field == o.Field }) {
			return q, nil, invalid(fmt.Sprintf("order_by[%d]", i), "%q is named twice", o.Field)
		}
	}
	switch {
	case q.Limit < 0:
		return q, nil, invalid("limit", "must not be negative")
	case q.Limit > maxLimit && !export:
		return q, nil, invalid("limit", "at most %d", maxLimit)
	case q.Limit == 0 && !export:
		q.Limit = defaultLimit
	}
	switch {
	case q.Offset < 0:
		return q, nil, invalid("offset", "must not be negative")
	case q.Offset > maxOffset:
		return q, nil, invalid("offset", "at most %d", maxOffset)
	}
	if q.Dimensions == nil {
		q.Dimensions = []string{}
	}
	if q.Filters == nil {
		q.Filters = []Filter{}
	}
	return q, loc, nil
}

func checkFilter(f Filter) error {
	switch {
	case !slices.Contains(ops, f.Op):
		return fmt.Errorf("%q is not an operator; use %s", f.Op, strings.Join(ops, ", "))
	case !slices.Contains(dimensions, f.Dimension):
		return fmt.Errorf("%q is not a dimension", f.Dimension)
	case isTimeDimension(f.Dimension):
		return fmt.Errorf("%q cannot be filtered on; use date_range", f.Dimension)
	case len(f.Values) == 0:
		return fmt.Errorf("name at least one value")
	case len(f.Values) > MaxValues:
		return fmt.Errorf("at most %d values", MaxValues)
	}
	for _, v := range f.Values {
		if len(v) > MaxValueLen {
			return fmt.Errorf("a value is longer than %d bytes", MaxValueLen)
		}
		if f.Op == "contains" && v == "" {
			return fmt.Errorf("contains needs non-empty values")
		}
		if allowed, ok := enumValues[f.Dimension]; ok && f.Op != "contains" && !slices.Contains(allowed, v) {
			return fmt.Errorf("%q is not a %s; use %s", v, f.Dimension, quoteAll(allowed))
		}
	}
	return nil
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

var (
	earliestDay = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	latestDay   = time.Date(2100, 12, 31, 0, 0, 0, 0, time.UTC)
)

func checkDateRange(r DateRange) error {
	if r.Preset != "" {
		if !slices.Contains(presets, r.Preset) {
			return invalid("date_range", "%q is not one of %s, nor two dates", r.Preset, strings.Join(presets, ", "))
		}
		return nil
	}
	switch {
	case r.From.IsZero() || r.To.IsZero():
		return invalid("date_range", "name both the first and the last day")
	case r.From.After(r.To):
		return invalid("date_range", "the first day %s is after the last day %s", r.From.Format(time.DateOnly), r.To.Format(time.DateOnly))
	case r.From.Before(earliestDay) || r.To.After(latestDay):
		return invalid("date_range", "days must lie between %s and %s", earliestDay.Format(time.DateOnly), latestDay.Format(time.DateOnly))
	}
	return nil
}
