package dashboard

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/event"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"asset": assetURL,
	"raw":   raw,
	"count": formatCount,
	"pct":   func(x float64) string { return fmt.Sprintf("%.0f%%", x) },
	"width": func(x float64) template.CSS { return template.CSS(fmt.Sprintf("width:%.1f%%", x)) },
	// capital starts a sentence: "people whose..." is "People whose...".
	"capital": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
}).ParseFS(templateFS, "templates/*.html"))

func (d *Dashboard) render(c *fiber.Ctx, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(buf.Bytes())
}

func (d *Dashboard) fragment(name string, data any) (template.HTML, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil
}

func (d *Dashboard) errorPage(c *fiber.Ctx, status int, title, detail string) error {
	return d.render(c, status, "error", map[string]any{"Title": title, "Detail": detail})
}

// view reads the page's state from the request.
func (d *Dashboard) view(c *fiber.Ctx, credential string) (view, []string) {
	q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	st, notes := ParseState(q)
	v := view{viewer: viewerOf(c), State: st, credential: credential, origin: c.BaseURL(), now: d.o.Now(), loc: d.o.Location}
	if v.scope.Kind == auth.ScopeCredential {
		// A credential's link shows that credential's page, unfiltered.
		v.credential = v.scope.Value
		v.State.Credential, v.State.Group = "", ""
	}
	if v.scope.Kind == auth.ScopeGroup {
		v.State.Group = ""
	}
	return v, notes
}

// errOutOfScope answers a credential that the viewer may not see exactly
// like one that does not exist.
var errOutOfScope = errors.New("no such credential here")

// checkScope tells whether the viewer may open the credential's page.
func (d *Dashboard) checkScope(ctx context.Context, v viewer, credential string) error {
	switch {
	case v.scope.Kind == "" && v.scope.Org == "":
		return nil
	case v.scope.Kind == auth.ScopeCredential && credential != v.scope.Value:
		return errOutOfScope
	case v.scope.Kind == auth.ScopeCredential && v.scope.Org == "":
		return nil
	}
	q := query.Query{
		Metrics:   []string{mEvents},
		Filters:   []query.Filter{{Op: "is", Dimension: "credential", Values: []string{credential}}},
		DateRange: query.DateRange{Preset: "all"},
		Org:       v.scope.Org,
	}
	if v.scope.Kind == auth.ScopeGroup {
		q.Filters = append(q.Filters, query.Filter{Op: "is", Dimension: v.scope.Kind, Values: []string{v.scope.Value}})
	}
	r, err := d.run(ctx, q)
	if err != nil {
		return err
	}
	if at(totals(r, 1), 0) == 0 {
		return errOutOfScope
	}
	return nil
}

func (d *Dashboard) overview(c *fiber.Ctx) error {
	v, notes := d.view(c, "")
	return d.page(c, v, notes)
}

func (d *Dashboard) credentialPage(c *fiber.Ctx) error {
	id := c.Params("id")
	if !event.ValidID(id) {
		return d.errorPage(c, fiber.StatusNotFound, "No such credential", "Credential ids are 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'.")
	}
	v, notes := d.view(c, id)
	if v.scope != (auth.Scope{}) {
		ctx, cancel := context.WithTimeout(c.UserContext(), d.o.SectionTimeout)
		defer cancel()
		switch err := d.checkScope(ctx, v.viewer, id); {
		case errors.Is(err, errOutOfScope):
			return d.errorPage(c, fiber.StatusNotFound, "No such credential here", "This dashboard shows "+v.scope.String()+" only.")
		case err != nil:
			d.warn.Warn("cannot check a credential's scope", "err", err)
			return d.errorPage(c, fiber.StatusServiceUnavailable, "The dashboard cannot open this page right now", "ClickHouse did not answer. Try again in a moment.")
		}
	}
	return d.page(c, v, notes)
}

// sectionOut is a section as the page carries it: rendered, failed, or
// left for the browser to fetch.
type sectionOut struct {
	Name, Title string
	Wide        bool
	Body        template.HTML
	Err         string
	Deferred    bool
	Src, CSV    string
}

type presetLink struct {
	Label, URL string
	On         bool
}

type chip struct {
	Label, Value, Remove string
}

// page renders the sections at once, each with its own time limit, and
// waits for them at most the budget: a section not ready by then is left
// for the page's script to fetch, so one slow query never holds the page.
// The section's work goes on meanwhile, and the fetch joins it.
func (d *Dashboard) page(c *fiber.Ctx, v view, notes []string) error {
	secs := sectionsFor(v)
	outs := make([]sectionOut, len(secs))
	for i, s := range secs {
		outs[i] = sectionOut{Name: s.name, Title: s.title, Wide: s.wide, Deferred: true, Src: v.sectionURL(s.name), CSV: v.exportURL(s.name)}
	}
	if !v.Async && d.o.Budget > 0 {
		flights := make([]*flight, len(secs))
		for i, s := range secs {
			flights[i] = d.fly(s, v)
		}
		budget := time.NewTimer(d.o.Budget)
		defer budget.Stop()
		waiting := true
		for i, f := range flights {
			select {
			case <-f.done:
			default:
				if !waiting {
					continue
				}
				select {
				case <-f.done:
				case <-budget.C:
					waiting = false
					continue
				}
			}
			outs[i].Deferred = false
			outs[i].Body, outs[i].Err = f.body, d.sectionError(f.err)
		}
	}
	return d.render(c, fiber.StatusOK, "page", d.pageData(v, outs, notes))
}

func (d *Dashboard) sectionError(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "timeout"), strings.Contains(err.Error(), "Timeout"):
		return "This took too long to compute."
	case invalidQuery(err):
		return "This cannot be shown for the chosen dates: pick a shorter range."
	}
	d.warn.Warn("a dashboard section failed", "err", err)
	return "ClickHouse did not answer this one."
}

func presetLinks(v view) []presetLink {
	var out []presetLink
	for _, p := range presets {
		out = append(out, presetLink{Label: p.Label, URL: v.pageURL(func(s *State) { s.Range = p.Value }), On: v.Range == p.Value})
	}
	return out
}

func chips(v view) []chip {
	var out []chip
	if v.Group != "" {
		out = append(out, chip{Label: "Group", Value: v.Group, Remove: v.pageURL(func(s *State) { s.Group = "" })})
	}
	if v.State.Credential != "" {
		out = append(out, chip{Label: "Credential", Value: v.State.Credential, Remove: v.pageURL(func(s *State) { s.Credential = "" })})
	}
	if v.Search != "" && v.credential == "" {
		out = append(out, chip{Label: "Name contains", Value: v.Search, Remove: v.pageURL(func(s *State) { s.Search = "" })})
	}
	return out
}

// section answers one section's body, for the page's script.
func (d *Dashboard) section(c *fiber.Ctx) error {
	v, _ := d.view(c, c.Params("id"))
	if id := c.Params("id"); id != "" && (!event.ValidID(id) || v.scope.Kind == auth.ScopeCredential && id != v.scope.Value) {
		return c.Status(fiber.StatusNotFound).SendString("No such credential here.")
	}
	s := findSection(v, c.Params("section"))
	if s == nil {
		return c.Status(fiber.StatusNotFound).SendString("No such section.")
	}
	f := d.fly(s, v)
	<-f.done
	body, err := f.body, f.err
	status := fiber.StatusOK
	if err != nil {
		status = failedStatus(err)
		if body, err = d.fragment("sec-error", map[string]any{"Err": d.sectionError(err)}); err != nil {
			return err
		}
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).SendString(string(body))
}

type field struct{ Name, Value string }

func (d *Dashboard) pageData(v view, outs []sectionOut, notes []string) map[string]any {
	data := map[string]any{
		"Home":        v.base,
		"Shared":      v.link,
		"Who":         v.name,
		"State":       v.State,
		"PagePath":    v.pagePath(),
		"RangeLabel":  v.RangeLabel(),
		"Sections":    outs,
		"Notes":       notes,
		"Presets":     presetLinks(v),
		"Chips":       chips(v),
		"CSV":         v.exportURL("trend"),
		"Custom":      v.Range == customRange,
		"Today":       v.now.In(v.loc).Format(dateLayout),
		"ShowFilters": v.credential == "",
		"ShowGroup":   v.scope.Kind != auth.ScopeGroup,
	}
	if v.loc != time.UTC {
		data["Zone"] = v.loc.String()
	} else {
		data["Zone"] = "UTC"
	}
	from, to := v.bounds()
	if v.Range == customRange {
		data["From"], data["To"] = v.From.Format(dateLayout), v.To.Format(dateLayout)
	} else {
		data["From"], data["To"] = from.Format(dateLayout), to.Format(dateLayout)
	}
	var rf []field
	for k, vs := range v.State.Values() {
		if k == "range" || k == "from" || k == "to" || k == "load" {
			rf = append(rf, field{k, vs[0]})
		}
	}
	slices.SortFunc(rf, func(a, b field) int { return strings.Compare(a.Name, b.Name) })
	data["RangeFields"] = rf
	switch {
	case v.credential != "":
		data["Title"], data["Kicker"], data["Heading"] = "Credential "+v.credential, "Credential", v.credential
		if v.scope.Kind != auth.ScopeCredential {
			s := v.State
			data["Back"] = v.base + s.Query()
		}
	case v.scope.Kind == auth.ScopeGroup:
		data["Title"], data["Kicker"], data["Heading"] = "Group "+v.scope.Value, "Group", v.scope.Value
	case v.Group != "":
		data["Title"], data["Kicker"], data["Heading"] = "Group "+v.Group, "Group", v.Group
	default:
		data["Title"], data["Heading"] = "Overview", "Overview"
	}
	return data
}

// A flight is one section's rendering. It runs on its own, not in a
// request, so that a page that stops waiting for it leaves it running, and
// the page's fetch of that section, a moment later, joins it instead of
// starting the same queries again.
type flight struct {
	done chan struct{}
	body template.HTML
	err  error
}

const (
	// flightKeep is how long a finished flight answers the fetches that
	// follow its page.
	flightKeep = 10 * time.Second
	maxFlights = 1000
)

// fly returns the flight of the section as the view shows it, joining one
// under way or just finished. The key is the section's address, which
// holds everything its queries depend on: the link (so the scope), the
// page's credential and the state.
func (d *Dashboard) fly(s *section, v view) *flight {
	// Viewers of different organizations share the same addresses.
	key := v.scope.Org + " " + v.sectionURL(s.name)
	d.mu.Lock()
	if f := d.flights[key]; f != nil {
		d.mu.Unlock()
		return f
	}
	f := &flight{done: make(chan struct{})}
	shared := len(d.flights) < maxFlights
	if shared {
		d.flights[key] = f
	}
	d.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d.o.SectionTimeout)
		defer cancel()
		f.body, f.err = d.renderSafely(ctx, s, v)
		close(f.done)
		if shared {
			time.AfterFunc(flightKeep, func() {
				d.mu.Lock()
				if d.flights[key] == f {
					delete(d.flights, key)
				}
				d.mu.Unlock()
			})
		}
	}()
	return f
}

// renderSafely renders a section off the request's goroutine, where a panic
// would take the whole process down: it becomes the section's error.
func (d *Dashboard) renderSafely(ctx context.Context, s *section, v view) (body template.HTML, err error) {
	defer func() {
		if r := recover(); r != nil {
			d.o.Logger.Error("a dashboard section panicked", "section", s.name, "panic", r)
			body, err = "", fmt.Errorf("section %s failed", s.name)
		}
	}()
	return d.renderSection(ctx, s, v)
}

// failedStatus is the status of a section or CSV whose query failed: the
// client's to fix when the engine refused the query as asked, else 503.
func failedStatus(err error) int {
	if invalidQuery(err) {
		return fiber.StatusBadRequest
	}
	return fiber.StatusServiceUnavailable
}

// invalidQuery reports whether the engine refused a section's query as
// asked, which is no failure of ClickHouse's.
func invalidQuery(err error) bool {
	var e *query.Error
	return errors.As(err, &e)
}
