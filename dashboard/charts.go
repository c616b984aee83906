package dashboard

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"github.com/credstats/credstats/aggregator/query"
)

// assetsHost is where go-echarts' pages would load echarts.min.js from:
// this server, never the project's CDN.
const assetsHost = "/dashboard/assets/"

// chart is one go-echarts chart as a page carries it: its option as JSON,
// drawn by dashboard.js with the embedded ECharts. The page has no inline
// script, so its content security policy can refuse every script but ours.
type chart struct {
	Kind   string
	Option string
	Height int
	// Label says what the chart shows, with its main numbers, for screen
	// readers; Table has all of them, a row per category (the funnel's
	// section shows its own table instead).
	Label string
	Table *dataTable
	// Series are the legend: buttons that show and hide the series of the
	// same name. The page draws it, and the tooltips, in HTML so that the
	// keyboard reaches them; Axis is the category axis, "x" or "y", along
	// which the tooltip follows the pointer and the arrow keys.
	Series []legendItem
	Axis   string
	// Titles head the chart's grids, left to right.
	Titles []legendItem
}

// legendItem is a series or a grid as the page names it; Off hides the
// series until it is switched on.
type legendItem struct {
	Name, Color string
	Off         bool
}

// dataTable is a chart's numbers: the first column names the categories,
// each other one is the series its head names.
type dataTable struct {
	Caption string
	Head    []string
	Rows    [][]string
}

const fontFamily = `system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif`

// The colours of the metrics and actors, shared with dashboard.css.
var (
	metricColors = map[string]string{
		mViews:         "#4f46e5",
		mUniqueViewers: "#a5b4fc",
		mShares:        "#0d9488",
		mLinkedInAdds:  "#0a66c2",
		mDownloads:     "#d97706",
		mVerifications: "#64748b",
		mLinkCopies:    "#db2777",
	}
	recipientColor = "#7c3aed"
	// Dark enough for 3:1 against the page, as WCAG asks of graphics, and
	// for white labels on its bars.
	guestColor = "#0369a1"
	inkColor   = "#0f172a"
)

var init0 = opts.Initialization{AssetsHost: assetsHost, Renderer: "canvas"}

// finish turns a go-echarts chart into its option JSON, with the style
// every chart shares and the few settings go-echarts has no field for.
func finish(c interface {
	Validate()
	JSON() map[string]interface{}
}, tweak func(map[string]any)) string {
	c.Validate()
	raw, err := json.Marshal(c.JSON())
	if err != nil {
		panic(err) // Options are built from plain values: this cannot fail.
	}
	var o map[string]any
	if err := json.Unmarshal(raw, &o); err != nil {
		panic(err)
	}
	o["textStyle"] = map[string]any{"fontFamily": fontFamily, "color": "#334155"}
	o["animationDuration"] = 500
	// The page draws the legend and the tooltips (dashboard.js), and the
	// dashboard's ECharts build has neither.
	delete(o, "toolbox")
	delete(o, "legend")
	delete(o, "tooltip")
	if tweak != nil {
		tweak(o)
	}
	out, err := json.Marshal(o)
	if err != nil {
		panic(err)
	}
	return string(out)
}

func series(o map[string]any) []map[string]any {
	var out []map[string]any
	if s, ok := o["series"].([]any); ok {
		for _, x := range s {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// labelOn is the colour of text drawn on a background colour: white or
// the ink colour, whichever stands out more.
func labelOn(background string) string {
	if contrast("#ffffff", background) >= contrast(inkColor, background) {
		return "#ffffff"
	}
	return inkColor
}

// contrast is WCAG's contrast ratio of two colours written #rrggbb.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

func luminance(hex string) float64 {
	var rgb [3]float64
	for i := range rgb {
		var v int
		fmt.Sscanf(hex[1+2*i:3+2*i], "%02x", &v)
		c := float64(v) / 255
		if c <= 0.03928 {
			rgb[i] = c / 12.92
		} else {
			rgb[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*rgb[0] + 0.7152*rgb[1] + 0.0722*rgb[2]
}

// gridStyle leaves room around the plot: containLabel measures the axis
// labels, and the margins absorb the pixels it misjudges for some fonts.
var gridStyle = opts.Grid{Left: "16", Right: "20", Top: "12", Bottom: "4", ContainLabel: opts.Bool(true)}

var splitLine = &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Color: "#e2e8f0", Type: "dashed"}}

func trendChart(v view, r query.Result) *chart {
	interval := v.interval()
	unit := strings.TrimPrefix(interval, "time:")
	table := &dataTable{Head: []string{unitTitles[unit]}}
	var labels []string
	for _, row := range r.Results {
		labels = append(labels, bucketLabel(firstDim(row), interval, v.loc))
		cells := []string{bucketTitle(firstDim(row), interval, v.loc)}
		for i := range trendMetrics {
			cells = append(cells, formatCount(at(row.Metrics, i)))
		}
		table.Rows = append(table.Rows, cells)
	}
	line := charts.NewLine()
	line.SetGlobalOptions(
		charts.WithInitializationOpts(init0),
		charts.WithGridOpts(gridStyle),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", MinInterval: 1, SplitLine: splitLine}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", AxisLabel: &opts.AxisLabel{HideOverlap: opts.Bool(true), Color: "#64748b"}}),
	)
	line.SetXAxis(labels)
	var legend []legendItem
	for i, m := range trendMetrics {
		data := make([]opts.LineData, len(r.Results))
		for j, row := range r.Results {
			data[j] = opts.LineData{Value: at(row.Metrics, i)}
		}
		so := []charts.SeriesOpts{
			// Counts go straight from one to the next: a smoothed curve
			// swings between whole numbers and overshoots them.
			charts.WithLineChartOpts(opts.LineChart{Smooth: opts.Bool(false), ShowSymbol: opts.Bool(len(data) <= 2), Symbol: "circle", SymbolSize: 6}),
			charts.WithItemStyleOpts(opts.ItemStyle{Color: metricColors[m]}),
			charts.WithLineStyleOpts(opts.LineStyle{Width: 2}),
		}
		if m == mViews {
			so = append(so, charts.WithAreaStyleOpts(opts.AreaStyle{Opacity: opts.Float(0.08)}))
		}
		line.AddSeries(metricLabels[m], data, so...)
		table.Head = append(table.Head, metricLabels[m])
		legend = append(legend, legendItem{Name: metricLabels[m], Color: metricColors[m], Off: m == mDownloads || m == mVerifications})
	}
	table.Caption = "Engagement per " + unit
	return &chart{Kind: "trend", Height: 320, Label: trendLabel(unit, r, table), Table: table, Series: legend, Axis: "x",
		Option: finish(line, func(o map[string]any) {
			if xs, ok := o["xAxis"].([]any); ok && len(xs) > 0 {
				xs[0].(map[string]any)["boundaryGap"] = false
			}
		})}
}

var unitTitles = map[string]string{"hour": "Hour", "day": "Day", "week": "Week", "month": "Month"}

// trendLabel says what the trend shows: its period, the counts in all and
// the busiest time for views.
func trendLabel(unit string, r query.Result, table *dataTable) string {
	if len(table.Rows) == 0 {
		return ""
	}
	sums := make([]float64, len(trendMetrics))
	peak, peakAt := 0.0, ""
	for j, row := range r.Results {
		for i := range trendMetrics {
			sums[i] += at(row.Metrics, i)
		}
		if n := at(row.Metrics, 0); n > peak {
			peak, peakAt = n, table.Rows[j][0]
		}
	}
	var counts []string
	for i, m := range trendMetrics {
		if m == mUniqueViewers {
			continue // The viewers of single days do not add up to the period's.
		}
		counts = append(counts, formatCount(sums[i])+" "+lowerLabel(m))
	}
	out := fmt.Sprintf("Line chart of views, unique viewers, shares, LinkedIn adds, downloads and verifications per %s, from %s to %s: %s in all.",
		unit, table.Rows[0][0], table.Rows[len(table.Rows)-1][0], sentenceList(counts))
	if peak > 0 {
		out += fmt.Sprintf(" Busiest %s: %s, with %s views.", unit, peakAt, formatCount(peak))
	}
	return out + " The table below the chart has every " + unit + "."
}

// lowerLabel is a metric's label inside a sentence.
func lowerLabel(m string) string {
	return strings.Replace(strings.ToLower(metricLabels[m]), "linkedin", "LinkedIn", 1)
}

// sentenceList joins "a", "b" and "c" as "a, b and c".
func sentenceList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

func firstDim(row query.Row) string {
	if len(row.Dimensions) == 0 {
		return ""
	}
	return row.Dimensions[0]
}

var bucketLayouts = []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02", "2006-01"}

// bucketLabel names a time bucket of the trend for people.
func bucketLabel(s, interval string, loc *time.Location) string {
	t, ok := parseBucket(s, loc)
	if !ok {
		return s
	}
	switch interval {
	case "time:hour":
		if t.Hour() == 0 {
			return t.Format("2 Jan")
		}
		return t.Format("15:04")
	case "time:month":
		return t.Format("Jan 2006")
	}
	return t.Format("2 Jan")
}

// bucketTitle names a time bucket of the trend in full, for its table and
// its tooltip.
func bucketTitle(s, interval string, loc *time.Location) string {
	t, ok := parseBucket(s, loc)
	if !ok {
		return s
	}
	switch interval {
	case "time:hour":
		return t.Format("Mon 2 Jan, 15:04")
	case "time:week":
		return "Week of " + t.Format("2 Jan 2006")
	case "time:month":
		return t.Format("January 2006")
	}
	return t.Format("Mon 2 Jan 2006")
}

func parseBucket(s string, loc *time.Location) (time.Time, bool) {
	for _, l := range bucketLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

var networkLabels = map[string]string{
	"linkedin": "LinkedIn", "twitter": "X (Twitter)", "facebook": "Facebook", "messenger": "Messenger",
	"whatsapp": "WhatsApp", "pinterest": "Pinterest", "telegram": "Telegram", "weibo": "Weibo",
	"email": "E-mail", "other": "Other",
}

func networksChart(r query.Result) *chart {
	type counts struct{ recipient, guest float64 }
	by := map[string]*counts{}
	for _, row := range r.Results {
		if len(row.Dimensions) < 2 || row.Dimensions[0] == "" {
			continue
		}
		c := by[row.Dimensions[0]]
		if c == nil {
			c = &counts{}
			by[row.Dimensions[0]] = c
		}
		if row.Dimensions[1] == "recipient" {
			c.recipient += at(row.Metrics, 0)
		} else {
			c.guest += at(row.Metrics, 0)
		}
	}
	var names []string
	for n, c := range by {
		if c.recipient+c.guest > 0 {
			names = append(names, n)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := by[names[i]], by[names[j]]
		if a.recipient+a.guest != b.recipient+b.guest {
			return a.recipient+a.guest > b.recipient+b.guest
		}
		return names[i] < names[j]
	})
	labels := make([]string, len(names))
	rec := make([]opts.BarData, len(names))
	gue := make([]opts.BarData, len(names))
	table := &dataTable{Caption: "Shares by network", Head: []string{"Network", "Recipients", "Guests", "All"}}
	var said []string
	for i, n := range names {
		labels[i] = networkLabels[n]
		if labels[i] == "" {
			labels[i] = n
		}
		c := by[n]
		rec[i] = opts.BarData{Value: c.recipient}
		gue[i] = opts.BarData{Value: c.guest}
		table.Rows = append(table.Rows, []string{labels[i], formatCount(c.recipient), formatCount(c.guest), formatCount(c.recipient + c.guest)})
		said = append(said, fmt.Sprintf("%s %s (%s by recipients, %s by guests)", labels[i], formatCount(c.recipient+c.guest), formatCount(c.recipient), formatCount(c.guest)))
	}
	bar := charts.NewBar()
	bar.SetGlobalOptions(
		charts.WithInitializationOpts(init0),
		charts.WithGridOpts(gridStyle),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", MinInterval: 1, SplitLine: splitLine}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Inverse: opts.Bool(true), AxisLabel: &opts.AxisLabel{Color: "#334155"}}),
	)
	bar.SetXAxis(labels)
	bar.AddSeries("Recipients", rec, charts.WithBarChartOpts(opts.BarChart{Stack: "shares"}), charts.WithItemStyleOpts(opts.ItemStyle{Color: recipientColor}))
	bar.AddSeries("Guests", gue, charts.WithBarChartOpts(opts.BarChart{Stack: "shares"}), charts.WithItemStyleOpts(opts.ItemStyle{Color: guestColor}))
	bar.XYReversal()
	height := 48 + 34*len(names)
	return &chart{Kind: "networks", Height: max(height, 190), Axis: "y", Table: table,
		Series: []legendItem{{Name: "Recipients", Color: recipientColor}, {Name: "Guests", Color: guestColor}},
		Label:  "Bar chart of shares by network, recipients' and guests' stacked: " + strings.Join(said, "; ") + ".",
		Option: finish(bar, barWidth)}
}

func actorsChart(r query.Result) *chart {
	by := byFirst(r)
	rec, gue := by["recipient"], by["guest"]
	var labels, said []string
	var recData, gueData []opts.BarData
	table := &dataTable{Caption: "Each action by recipients and by guests", Head: []string{"Action", "Recipients", "Guests"}}
	for i, m := range actorMetrics {
		a, b := at(rec, i), at(gue, i)
		if a+b == 0 {
			continue
		}
		labels = append(labels, metricLabels[m])
		pa, pb := a/(a+b)*100, b/(a+b)*100
		recData = append(recData, actorBar(pa))
		gueData = append(gueData, actorBar(pb))
		table.Rows = append(table.Rows, []string{metricLabels[m], fmt.Sprintf("%s (%.1f%%)", formatCount(a), pa), fmt.Sprintf("%s (%.1f%%)", formatCount(b), pb)})
		said = append(said, fmt.Sprintf("%s %.0f%% by recipients (%s of %s)", lowerLabel(m), pa, formatCount(a), formatCount(a+b)))
	}
	bar := charts.NewBar()
	bar.SetGlobalOptions(
		charts.WithInitializationOpts(init0),
		charts.WithGridOpts(gridStyle),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Max: 100, AxisLabel: &opts.AxisLabel{Formatter: "{value}%", Color: "#64748b"}, SplitLine: splitLine}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Inverse: opts.Bool(true), AxisLabel: &opts.AxisLabel{Color: "#334155"}}),
	)
	bar.SetXAxis(labels)
	label := func(background string) charts.SeriesOpts {
		return charts.WithLabelOpts(opts.Label{Show: opts.Bool(true), Position: "inside", Color: labelOn(background), FontSize: 11})
	}
	bar.AddSeries("Recipients", recData, charts.WithBarChartOpts(opts.BarChart{Stack: "actor"}), charts.WithItemStyleOpts(opts.ItemStyle{Color: recipientColor}), label(recipientColor))
	bar.AddSeries("Guests", gueData, charts.WithBarChartOpts(opts.BarChart{Stack: "actor"}), charts.WithItemStyleOpts(opts.ItemStyle{Color: guestColor}), label(guestColor))
	bar.XYReversal()
	return &chart{Kind: "actors", Height: max(48+36*len(labels), 190), Axis: "y", Table: table,
		Series: []legendItem{{Name: "Recipients", Color: recipientColor}, {Name: "Guests", Color: guestColor}},
		Label:  "Bar chart of each action's split between recipients and guests: " + strings.Join(said, "; ") + ".",
		Option: finish(bar, barWidth)}
}

// actorBar is one actor's share of an action: the bar says the percentage
// where it fits; the table and the tooltip say the count.
func actorBar(pct float64) opts.BarData {
	return opts.BarData{
		Value: round1(pct),
		Label: &opts.Label{Show: opts.Bool(pct >= 9), Formatter: fmt.Sprintf("%.0f%%", pct)},
	}
}

// The funnel's stages: what share of the viewers go on to share, and to
// add the credential to a LinkedIn profile.
var funnelStages = []string{"Viewed", "Shared", "Added to LinkedIn"}

// funnelChart draws each actor's funnel as bars centred on one line, each
// as wide as its count against the widest: ECharts' own funnel draws
// trapezoids between stages and gives a stage of 0 a width. The stages
// are named above their bars, so no name is cut on a phone. A stage wider
// than the one before is drawn as it is, and the note says why.
func funnelChart(r query.Result) (*chart, miniTable, string) {
	by := byFirst(r)
	table := miniTable{Head: []string{"Stage", "Recipients", "Guests"}}
	cells := make([][]string, len(funnelStages))
	for i := range funnelStages {
		cells[i] = []string{funnelStages[i]}
	}
	actors := []struct {
		key, name, color string
		shades           []string
	}{
		{"recipient", "Recipients", recipientColor, []string{"#7c3aed", "#8b5cf6", "#a78bfa"}},
		{"guest", "Guests", guestColor, []string{"#0284c7", "#0ea5e9", "#7dd3fc"}},
	}
	bar := charts.NewBar()
	bar.SetGlobalOptions(charts.WithInitializationOpts(init0))
	widest := make([]float64, len(actors))
	var said, wider []string
	for k, actor := range actors {
		ms := by[actor.key]
		views := at(ms, 0)
		for i := range funnelStages {
			widest[k] = max(widest[k], at(ms, i))
		}
		offset := make([]opts.BarData, len(funnelStages))
		shown := make([]opts.BarData, len(funnelStages))
		var stages []string
		for i, stage := range funnelStages {
			n := at(ms, i)
			// The table has the counts, narrow enough for a phone; the
			// label says each per view too.
			cell, spoken := formatCount(n), formatCount(n)
			if i > 0 && views > 0 {
				spoken += " · " + formatRatio(n/views) + " per view"
			}
			if i > 0 && n > at(ms, i-1) {
				wider = append(wider, fmt.Sprintf("%s: %s %s, %s %s", actor.name, formatCount(n), strings.ToLower(stage), formatCount(at(ms, i-1)), strings.ToLower(funnelStages[i-1])))
			}
			cells[i] = append(cells[i], cell)
			stages = append(stages, strings.Replace(strings.ToLower(stage), "linkedin", "LinkedIn", 1)+" "+spoken)
			offset[i] = opts.BarData{Value: (widest[k] - n) / 2}
			shown[i] = opts.BarData{Name: stage, Value: n, ItemStyle: &opts.ItemStyle{Color: actor.shades[i]},
				Label: &opts.Label{Show: opts.Bool(true), Position: "top", Color: "#334155", FontSize: 12, Formatter: stage + " · " + formatCount(n)}}
		}
		bar.AddSeries(actor.name+" offset", offset)
		bar.AddSeries(actor.name, shown)
		said = append(said, actor.name+": "+strings.Join(stages, ", "))
	}
	table.Rows = cells
	option := finish(bar, func(o map[string]any) {
		var grids, xs, ys []any
		for k := range actors {
			grids = append(grids, map[string]any{"left": []string{"2%", "52%"}[k], "width": "46%", "top": 22, "bottom": 0})
			xs = append(xs, map[string]any{"type": "value", "gridIndex": k, "min": 0, "max": max(widest[k], 1), "show": false})
			ys = append(ys, map[string]any{"type": "category", "gridIndex": k, "data": funnelStages, "inverse": true, "show": false})
		}
		o["grid"], o["xAxis"], o["yAxis"] = grids, xs, ys
		for i, s := range series(o) {
			k := i / 2
			s["xAxisIndex"], s["yAxisIndex"], s["stack"], s["barWidth"] = k, k, actors[k].key, 26
			if i%2 == 0 {
				// The offset that centres the bar: drawn in nothing, and deaf
				// to the pointer.
				s["itemStyle"] = map[string]any{"color": "transparent"}
				s["silent"] = true
			}
		}
	})
	return &chart{Kind: "funnel", Height: 240, Axis: "y",
		Titles: []legendItem{{Name: actors[0].name, Color: actors[0].color}, {Name: actors[1].name, Color: actors[1].color}},
		Label:  "Two funnels, from viewed to shared to added to LinkedIn, as bars as wide as their counts. " + strings.Join(said, ". ") + ".",
		Option: option}, table, funnelNote(wider)
}

// funnelNote says why a stage is wider than the one before, when one is:
// the stages count events, not people.
func funnelNote(wider []string) string {
	if len(wider) == 0 {
		return ""
	}
	return "A later stage is wider than the one before (" + strings.Join(wider, "; ") + ") because the stages count events, not people: " +
		"one viewer may share to several networks, a view is counted once a day while every share counts, and events sent through the API need no page view."
}

// barWidth keeps bars slim when there are few of them.
func barWidth(o map[string]any) {
	for _, s := range series(o) {
		s["barMaxWidth"] = 22
	}
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
