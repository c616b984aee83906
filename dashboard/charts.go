package dashboard

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/go-echarts/go-echarts/v2/types"

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
	Label  string // what the chart shows, for screen readers
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
	guestColor     = "#38bdf8"
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
	delete(o, "toolbox")
	darkTooltip(o)
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

var tooltipStyle = opts.Tooltip{Show: opts.Bool(true), Trigger: "axis", BackgroundColor: "rgba(15,23,42,.92)", BorderColor: "rgba(15,23,42,.92)"}

// darkTooltip gives a tooltip light text on its dark background.
func darkTooltip(o map[string]any) {
	if t, ok := o["tooltip"].(map[string]any); ok {
		t["textStyle"] = map[string]any{"color": "#f8fafc", "fontSize": 12}
	}
}

func legend() opts.Legend {
	return opts.Legend{Show: opts.Bool(true), Top: "0", Left: "0", Icon: "roundRect", ItemWidth: 12, ItemHeight: 8}
}

// gridStyle leaves room around the plot: containLabel measures the axis
// labels, and the margins absorb the pixels it misjudges for some fonts.
var gridStyle = opts.Grid{Left: "16", Right: "20", Top: "40", Bottom: "4", ContainLabel: opts.Bool(true)}

var splitLine = &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Color: "#e2e8f0", Type: "dashed"}}

func trendChart(v view, r query.Result) *chart {
	interval := v.interval()
	var labels []string
	for _, row := range r.Results {
		labels = append(labels, bucketLabel(firstDim(row), interval, v.loc))
	}
	line := charts.NewLine()
	line.SetGlobalOptions(
		charts.WithInitializationOpts(init0),
		charts.WithTooltipOpts(tooltipStyle),
		charts.WithLegendOpts(legend()),
		charts.WithGridOpts(gridStyle),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", MinInterval: 1, SplitLine: splitLine}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", AxisLabel: &opts.AxisLabel{HideOverlap: opts.Bool(true), Color: "#64748b"}}),
	)
	line.SetXAxis(labels)
	for i, m := range trendMetrics {
		data := make([]opts.LineData, len(r.Results))
		for j, row := range r.Results {
			data[j] = opts.LineData{Value: at(row.Metrics, i)}
		}
		so := []charts.SeriesOpts{
			charts.WithLineChartOpts(opts.LineChart{Smooth: opts.Bool(true), ShowSymbol: opts.Bool(len(data) <= 2), Symbol: "circle", SymbolSize: 6}),
			charts.WithItemStyleOpts(opts.ItemStyle{Color: metricColors[m]}),
			charts.WithLineStyleOpts(opts.LineStyle{Width: 2}),
		}
		if m == mViews {
			so = append(so, charts.WithAreaStyleOpts(opts.AreaStyle{Opacity: opts.Float(0.08)}))
		}
		line.AddSeries(metricLabels[m], data, so...)
	}
	return &chart{Kind: "trend", Height: 320, Label: "Line chart of views, unique viewers, shares, LinkedIn adds, downloads and verifications per " + strings.TrimPrefix(interval, "time:"),
		Option: finish(line, func(o map[string]any) {
			if xs, ok := o["xAxis"].([]any); ok && len(xs) > 0 {
				xs[0].(map[string]any)["boundaryGap"] = false
			}
			if l, ok := o["legend"].(map[string]any); ok {
				l["selected"] = map[string]bool{metricLabels[mDownloads]: false, metricLabels[mVerifications]: false}
			}
		})}
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
	var t time.Time
	var err error
	for _, l := range bucketLayouts {
		if t, err = time.ParseInLocation(l, s, loc); err == nil {
			break
		}
	}
	if err != nil {
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
	for i, n := range names {
		labels[i] = networkLabels[n]
		if labels[i] == "" {
			labels[i] = n
		}
		rec[i] = opts.BarData{Value: by[n].recipient}
		gue[i] = opts.BarData{Value: by[n].guest}
	}
	bar := charts.NewBar()
	bar.SetGlobalOptions(
		charts.WithInitializationOpts(init0),
		charts.WithTooltipOpts(tooltipStyle),
		charts.WithLegendOpts(legend()),
		charts.WithGridOpts(gridStyle),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", MinInterval: 1, SplitLine: splitLine}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Inverse: opts.Bool(true), AxisLabel: &opts.AxisLabel{Color: "#334155"}}),
	)
	bar.SetXAxis(labels)
	bar.AddSeries("Recipients", rec, charts.WithBarChartOpts(opts.BarChart{Stack: "shares"}), charts.WithItemStyleOpts(opts.ItemStyle{Color: recipientColor}))
	bar.AddSeries("Guests", gue, charts.WithBarChartOpts(opts.BarChart{Stack: "shares"}), charts.WithItemStyleOpts(opts.ItemStyle{Color: guestColor}))
	bar.XYReversal()
	height := 80 + 34*len(names)
	return &chart{Kind: "networks", Height: max(height, 220), Label: "Bar chart of shares per network, recipients and guests stacked", Option: finish(bar, barWidth)}
}

func actorsChart(r query.Result) *chart {
	by := byFirst(r)
	rec, gue := by["recipient"], by["guest"]
	var labels []string
	var recData, gueData []opts.BarData
	for i, m := range actorMetrics {
		a, b := at(rec, i), at(gue, i)
		if a+b == 0 {
			continue
		}
		labels = append(labels, metricLabels[m])
		pa, pb := a/(a+b)*100, b/(a+b)*100
		recData = append(recData, actorBar(metricLabels[m], "Recipients", pa, a))
		gueData = append(gueData, actorBar(metricLabels[m], "Guests", pb, b))
	}
	bar := charts.NewBar()
	bar.SetGlobalOptions(
		charts.WithInitializationOpts(init0),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "item", BackgroundColor: tooltipStyle.BackgroundColor, BorderColor: tooltipStyle.BorderColor}),
		charts.WithLegendOpts(legend()),
		charts.WithGridOpts(gridStyle),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Max: 100, AxisLabel: &opts.AxisLabel{Formatter: "{value}%", Color: "#64748b"}, SplitLine: splitLine}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Inverse: opts.Bool(true), AxisLabel: &opts.AxisLabel{Color: "#334155"}}),
	)
	bar.SetXAxis(labels)
	label := opts.Label{Show: opts.Bool(true), Position: "inside", Color: "#fff", FontSize: 11}
	bar.AddSeries("Recipients", recData, charts.WithBarChartOpts(opts.BarChart{Stack: "actor"}), charts.WithItemStyleOpts(opts.ItemStyle{Color: recipientColor}), charts.WithLabelOpts(label))
	bar.AddSeries("Guests", gueData, charts.WithBarChartOpts(opts.BarChart{Stack: "actor"}), charts.WithItemStyleOpts(opts.ItemStyle{Color: guestColor}), charts.WithLabelOpts(label))
	bar.XYReversal()
	return &chart{Kind: "actors", Height: max(80+36*len(labels), 220), Label: "Bar chart of each action's split between recipients and guests",
		Option: finish(bar, func(o map[string]any) {
			barWidth(o)
		})}
}

// actorBar is one actor's share of an action: the bar says the percentage
// where it fits, the tooltip the count.
func actorBar(action, actor string, pct, n float64) opts.BarData {
	return opts.BarData{
		Value:   round1(pct),
		Label:   &opts.Label{Show: opts.Bool(pct >= 9), Formatter: fmt.Sprintf("%.0f%%", pct)},
		Tooltip: &opts.Tooltip{Formatter: types.FuncStr(fmt.Sprintf("%s · %s<br>%s (%.1f%%)", action, actor, formatCount(n), pct))},
	}
}

// The funnel's stages: what share of the viewers go on to share, and to
// add the credential to a LinkedIn profile.
var funnelStages = []string{"Viewed", "Shared", "Added to LinkedIn"}

// funnelShort are the stage names that fit in the funnel's narrow end.
var funnelShort = map[string]string{"Added to LinkedIn": "On LinkedIn"}

func funnelChart(r query.Result) (*chart, miniTable) {
	by := byFirst(r)
	fun := charts.NewFunnel()
	fun.SetGlobalOptions(
		charts.WithInitializationOpts(init0),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "item", BackgroundColor: tooltipStyle.BackgroundColor, BorderColor: tooltipStyle.BorderColor}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
	)
	table := miniTable{Head: []string{"Stage", "Recipients", "Guests"}}
	cells := make([][]string, len(funnelStages))
	for i := range funnelStages {
		cells[i] = []string{funnelStages[i]}
	}
	for _, actor := range []string{"recipient", "guest"} {
		ms := by[actor]
		views := at(ms, 0)
		data := make([]opts.FunnelData, len(funnelStages))
		for i, stage := range funnelStages {
			n := at(ms, i)
			data[i] = opts.FunnelData{Name: stage, Value: n}
			cell := formatCount(n)
			if i > 0 && views > 0 {
				cell += " · " + formatPercent(n/views)
			}
			cells[i] = append(cells[i], cell)
		}
		name := map[string]string{"recipient": "Recipients", "guest": "Guests"}[actor]
		fun.AddSeries(name, data)
	}
	table.Rows = cells
	option := finish(fun, func(o map[string]any) {
		o["title"] = []any{
			map[string]any{"text": "Recipients", "left": "25%", "top": 0, "textAlign": "center", "textStyle": map[string]any{"fontSize": 13, "fontWeight": 600, "color": recipientColor}},
			map[string]any{"text": "Guests", "left": "75%", "top": 0, "textAlign": "center", "textStyle": map[string]any{"fontSize": 13, "fontWeight": 600, "color": "#0284c7"}},
		}
		shades := [][]string{{"#7c3aed", "#8b5cf6", "#a78bfa"}, {"#0284c7", "#0ea5e9", "#7dd3fc"}}
		for i, s := range series(o) {
			left := []string{"2%", "52%"}[i%2]
			s["left"], s["width"], s["top"], s["bottom"] = left, "46%", 30, 4
			s["sort"], s["minSize"], s["gap"] = "none", "34%", 3
			s["label"] = map[string]any{"show": true, "position": "inside", "color": "#fff", "fontSize": 11, "lineHeight": 14, "textBorderWidth": 0, "textBorderColor": "transparent"}
			if data, ok := s["data"].([]any); ok {
				for _, item := range data {
					if m, ok := item.(map[string]any); ok {
						n, _ := m["value"].(float64)
						name, _ := m["name"].(string)
						if short := funnelShort[name]; short != "" {
							name = short
						}
						m["label"] = map[string]any{"formatter": fmt.Sprintf("%s\n%s", name, formatCount(n))}
					}
				}
			}
			s["itemStyle"] = map[string]any{"borderWidth": 0}
			s["color"] = shades[i%2]
		}
	})
	return &chart{Kind: "funnel", Height: 280, Label: "Funnels from viewed to shared to added to LinkedIn, for recipients and for guests", Option: option}, table
}

// barWidth keeps bars slim when there are few of them.
func barWidth(o map[string]any) {
	for _, s := range series(o) {
		s["barMaxWidth"] = 22
	}
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
