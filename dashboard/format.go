package dashboard

import (
	"math"
	"strconv"
	"strings"
)

// formatCount writes a count with thousands separators: 1234567 is
// "1,234,567".
func formatCount(x float64) string {
	n := int64(math.Round(x))
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatRatio writes a ratio with two decimals: 1.175 shares per view is
// "1.18".
func formatRatio(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }

// signed writes x with its sign and the given decimals: "+12", "-3.5".
func signed(x float64, decimals int) string {
	s := strconv.FormatFloat(math.Abs(x), 'f', decimals, 64)
	switch {
	case s == strconv.FormatFloat(0, 'f', decimals, 64):
		return "±" + s
	case x < 0:
		return "−" + s
	}
	return "+" + s
}

// raw writes a value exactly, without exponent: for data attributes.
func raw(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
