package aggregator

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"

	"github.com/credstats/credstats/aggregator/counters"
)

// badgeMessage is what a credential's badge says: "viewed 120 · shared 8".
func badgeMessage(st counters.Stats) string {
	var shares uint64
	for _, n := range st.Shares {
		shares += n
	}
	return "viewed " + compact(st.Views) + " · shared " + compact(shares)
}

// compact writes counts the way badges do: 999, 1.2k, 12k, 1.2M.
func compact(n uint64) string {
	if n < 1000 {
		return strconv.FormatUint(n, 10)
	}
	v, unit := float64(n), ""
	for _, u := range []string{"k", "M", "G", "T"} {
		if v < 999.95 {
			break
		}
		v, unit = v/1000, u
	}
	if v < 9.95 {
		return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + unit
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64) + unit
}

// textWidth estimates the width in pixels of s in 11px Verdana, the font of
// shields-style badges; textLength makes renderers fit it exactly.
func textWidth(s string) float64 {
	w := 0.0
	for _, r := range s {
		switch {
		case strings.ContainsRune("iljI|!.,:;'", r):
			w += 3.4
		case strings.ContainsRune("ftr()[] ·", r):
			w += 4.4
		case strings.ContainsRune("mwMW", r):
			w += 10.6
		case r >= '0' && r <= '9':
			w += 7.0
		case r >= 'a' && r <= 'z':
			w += 6.7
		case r >= 'A' && r <= 'Z':
			w += 7.6
		default:
			w += 7.4
		}
	}
	return math.Ceil(w)
}

// renderBadge draws a flat, two-part badge: label on grey, message on blue.
// Both texts are escaped for XML.
func renderBadge(label, message string) []byte {
	const pad, height = 6.0, 20
	lw := textWidth(label) + 2*pad
	mw := textWidth(message) + 2*pad
	w := lw + mw
	l, m := html.EscapeString(label), html.EscapeString(message)
	title := html.EscapeString(label + ": " + message)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%d" role="img" aria-label="%s">`, w, height, title)
	fmt.Fprintf(&b, `<title>%s</title>`, title)
	b.WriteString(`<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`)
	fmt.Fprintf(&b, `<clipPath id="r"><rect width="%g" height="%d" rx="3" fill="#fff"/></clipPath>`, w, height)
	fmt.Fprintf(&b, `<g clip-path="url(#r)"><rect width="%g" height="%d" fill="#555"/><rect x="%g" width="%g" height="%d" fill="#007ec6"/><rect width="%g" height="%d" fill="url(#s)"/></g>`,
		lw, height, lw, mw, height, w, height)
	b.WriteString(`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="11">`)
	for _, t := range []struct {
		x, tw float64
		s     string
	}{{lw / 2, lw - 2*pad, l}, {lw + mw/2, mw - 2*pad, m}} {
		fmt.Fprintf(&b, `<text aria-hidden="true" x="%g" y="15" fill="#010101" fill-opacity=".3" textLength="%g">%s</text>`, t.x, t.tw, t.s)
		fmt.Fprintf(&b, `<text x="%g" y="14" textLength="%g">%s</text>`, t.x, t.tw, t.s)
	}
	b.WriteString(`</g></svg>`)
	return []byte(b.String())
}
