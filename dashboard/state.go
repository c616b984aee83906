package dashboard

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/credstats/credstats/internal/event"
)

// preset is one choice of the date range control.
type preset struct {
	Value, Label string
}

// presets are the aggregator's date-range presets, in the order shown.
var presets = []preset{
	{"today", "Today"},
	{"24h", "24 hours"},
	{"7d", "7 days"},
	{"30d", "30 days"},
	{"month", "This month"},
	{"12mo", "12 months"},
	{"all", "All time"},
}

const (
	defaultRange = "30d"
	customRange  = "custom"
	dateLayout   = "2006-01-02"
)

// State is what the address of a dashboard page says: the range and the
// filters. Everything a person chose is in it, so a view can be bookmarked
// and sent.
type State struct {
	Range      string    // a preset's value or "custom"
	From, To   time.Time // the custom range's first and last day, inclusive
	Group      string
	Credential string
	// Search keeps the credentials whose registry name (or, without one,
	// id) contains it.
	Search string
	// Async makes every section load on its own after the page, instead
	// of rendering the ones that are ready within the page's budget.
	Async bool
}

// ParseState reads a page's query string. What it cannot use it drops and
// names in notes, so a mangled bookmark still opens.
func ParseState(q url.Values) (s State, notes []string) {
	s.Range = q.Get("range")
	switch {
	case s.Range == "" && (q.Get("from") != "" || q.Get("to") != ""):
		s.Range = customRange
	case s.Range == "":
		s.Range = defaultRange
	}
	if s.Range == customRange {
		from, err1 := time.Parse(dateLayout, q.Get("from"))
		to, err2 := time.Parse(dateLayout, q.Get("to"))
		switch {
		case err1 != nil || err2 != nil:
			notes = append(notes, "The custom range needs two dates (YYYY-MM-DD); showing 30 days instead.")
			s.Range = defaultRange
		case to.Before(from):
			from, to = to, from
			fallthrough
		default:
			s.From, s.To = clampDate(from), clampDate(to)
			if !s.From.Equal(from) || !s.To.Equal(to) {
				notes = append(notes, "Dates are shown from "+firstDate.Format(dateLayout)+" to "+lastDate.Format(dateLayout)+"; the range was cut to fit.")
			}
		}
	} else if !isPreset(s.Range) {
		notes = append(notes, "Unknown date range "+quote(s.Range)+"; showing 30 days instead.")
		s.Range = defaultRange
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"group", &s.Group}, {"credential", &s.Credential}} {
		v := strings.TrimSpace(q.Get(f.name))
		switch {
		case v == "":
		case event.ValidID(v):
			*f.v = v
		default:
			notes = append(notes, "Ignored the "+f.name+" filter: ids are 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'.")
		}
	}
	switch v := strings.TrimSpace(q.Get("search")); {
	case v == "":
	case utf8.RuneCountInString(v) <= maxSearch && !strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }):
		s.Search = v
	default:
		notes = append(notes, fmt.Sprintf("Ignored the search: at most %d printable characters.", maxSearch))
	}
	s.Async = q.Get("load") == "async"
	return s, notes
}

// maxSearch bounds a search, as the registry bounds a name.
const maxSearch = 200

// The days a custom range may cover: those the query engine answers for,
// with room for the period before, which the headline compares with.
var (
	firstDate = time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	lastDate  = time.Date(2100, 12, 31, 0, 0, 0, 0, time.UTC)
)

func clampDate(t time.Time) time.Time {
	switch {
	case t.Before(firstDate):
		return firstDate
	case t.After(lastDate):
		return lastDate
	}
	return t
}

func isPreset(v string) bool {
	for _, p := range presets {
		if p.Value == v {
			return true
		}
	}
	return false
}

func quote(s string) string {
	if len(s) > 40 {
		// Cut at a character, not inside one.
		n := 40
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return "“" + s + "”"
}

// Values encodes the state as a query string, leaving out defaults.
func (s State) Values() url.Values {
	q := url.Values{}
	if s.Range != defaultRange {
		q.Set("range", s.Range)
	}
	if s.Range == customRange {
		q.Set("from", s.From.Format(dateLayout))
		q.Set("to", s.To.Format(dateLayout))
	}
	if s.Group != "" {
		q.Set("group", s.Group)
	}
	if s.Credential != "" {
		q.Set("credential", s.Credential)
	}
	if s.Search != "" {
		q.Set("search", s.Search)
	}
	if s.Async {
		q.Set("load", "async")
	}
	return q
}

// Query returns "?..." for the state, or "" for the default one.
func (s State) Query() string {
	if e := s.Values().Encode(); e != "" {
		return "?" + e
	}
	return ""
}

// RangeLabel names the range for people.
func (s State) RangeLabel() string {
	if s.Range == customRange {
		if s.From.Equal(s.To) {
			return s.From.Format("2 Jan 2006")
		}
		return s.From.Format("2 Jan 2006") + " – " + s.To.Format("2 Jan 2006")
	}
	for _, p := range presets {
		if p.Value == s.Range {
			switch p.Value {
			case "today", "month", "all":
				return p.Label
			}
			return "Last " + p.Label
		}
	}
	return s.Range
}
