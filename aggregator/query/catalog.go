package query

import (
	"strings"

	"github.com/credstats/credstats/internal/catalog"
)

// What the engine reads from the catalog, by name.
var (
	// metrics lists the metric names, in documentation order.
	metrics []string
	// metricSQL computes each metric over a rollup's events and visitors.
	metricSQL = map[string]string{}
	// metricDims lists the dimensions whose columns a metric reads.
	metricDims = map[string][]string{}
	// dimensions lists the dimension names, in documentation order.
	dimensions []string
	// columns maps a dimension to its column in every rollup.
	columns = map[string]string{}
	// enumValues are the values a dimension with a closed set can take; a
	// filter naming another value is a mistake worth reporting.
	enumValues = map[string][]string{}
)

func init() {
	for _, m := range catalog.Metrics {
		metrics = append(metrics, m.Name)
		metricSQL[m.Name] = m.SQL
		for _, d := range m.Dims() {
			metricDims[m.Name] = append(metricDims[m.Name], d.Name)
		}
	}
	for _, d := range catalog.Dimensions {
		dimensions = append(dimensions, d.Name)
		columns[d.Name] = d.Column.Name
		if d.Column.Enum != nil {
			enumValues[d.Name] = d.Column.Enum.Names()
		}
	}
	dimensions = append(dimensions, "time:hour", "time:day", "time:week", "time:month")
}

func isTimeDimension(d string) bool { return strings.HasPrefix(d, "time:") }
