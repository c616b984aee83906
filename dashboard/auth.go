package dashboard

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/edge"
)

// CookieName is the session cookie's name.
const CookieName = "credstats_session"

// viewer is who looks at a page and what they may see.
type viewer struct {
	// base is the root of every address the viewer's pages link to:
	// /dashboard, or /dashboard/s/TOKEN for a shared link.
	base  string
	scope auth.Scope
	name  string // the API key's name, or the link's
	link  bool
}

const viewerKey = "dashboard.viewer"

func viewerOf(c *fiber.Ctx) viewer {
	v, _ := c.Locals(viewerKey).(viewer)
	return v
}

// errCannotCheck means the key or link store did not answer.
var errCannotCheck = errors.New("cannot check the sign-in right now")

// requireSession lets signed-in requests through. A page request without a
// valid session is sent to the sign-in form, which sends it back after.
func (d *Dashboard) requireSession(c *fiber.Ctx) error {
	secure(c)
	if refused, err := d.refuse(c); refused {
		return err
	}
	k, err := d.session(c)
	switch {
	case err == nil:
		c.Locals(viewerKey, viewer{base: "/dashboard", name: k.Name, scope: auth.Scope{Org: k.Organization}})
		return c.Next()
	case errors.Is(err, errCannotCheck):
		return d.errorPage(c, fiber.StatusServiceUnavailable, "The dashboard cannot check your sign-in right now", "ClickHouse did not answer. Try again in a moment.")
	}
	if c.Cookies(CookieName) != "" {
		d.failed(c)
		d.clearCookie(c)
	}
	if partial(c) {
		// The page's script reloads the page, which then goes to sign in.
		return c.Status(fiber.StatusUnauthorized).SendString("Your session has ended: sign in again.")
	}
	// A SameSite=Strict cookie is not sent on a navigation that starts on
	// another site (a bookmark in a mail, a link in a chat): reloading the
	// same address from here sends it, and only then is the reader really
	// signed out.
	if c.Get("Sec-Fetch-Site") == "cross-site" && c.Query("reloaded") == "" {
		return d.render(c, fiber.StatusOK, "reload", map[string]any{"URL": withParam(c.OriginalURL(), "reloaded", "1")})
	}
	return c.Redirect("/dashboard/login?next="+url.QueryEscape(dropParam(c.OriginalURL(), "reloaded")), fiber.StatusSeeOther)
}

// session returns the key the request's session was opened with, after
// checking the key is still valid for the dashboard.
func (d *Dashboard) session(c *fiber.Ctx) (auth.Key, error) {
	s, err := auth.ParseSession(d.o.Secret, c.Cookies(CookieName), d.o.Now())
	if err != nil {
		return auth.Key{}, err
	}
	if d.sessions != nil {
		if got, ok := d.sessions.Get(s.KeyID); ok {
			return got.key, got.err
		}
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	k, err := d.o.Keys.Check(ctx, s.KeyID, auth.Dashboard)
	switch {
	case errors.Is(err, auth.ErrKeyUnknown), errors.Is(err, auth.ErrKeyRevoked), errors.Is(err, auth.ErrKeyForbidden), errors.Is(err, auth.ErrKeyNotFound):
		err = auth.ErrBadSession
	case err != nil:
		d.warn.Warn("cannot check a dashboard session's key", "err", err)
		return auth.Key{}, errCannotCheck
	}
	if d.sessions != nil {
		d.sessions.Add(s.KeyID, sessionCheck{key: k, err: err}, d.o.CacheTTL)
	}
	return k, err
}

// refuse answers in place of the page while the dashboard cannot serve
// it: ClickHouse has not answered since the start, or the client has
// failed to authenticate too often. It reports whether it answered.
func (d *Dashboard) refuse(c *fiber.Ctx) (bool, error) {
	var status int
	var title, detail string
	switch {
	case !d.o.Ready():
		status, title, detail = fiber.StatusServiceUnavailable, "The dashboard is starting", "ClickHouse has not answered yet. Try again in a moment."
		c.Set(fiber.HeaderRetryAfter, "5")
	case d.o.Guard != nil && d.o.Guard.AuthBlocked(c):
		status, title, detail = fiber.StatusTooManyRequests, "Too many failed attempts", "This address tried too many keys or links that do not work. Try again in a few minutes."
		c.Set(fiber.HeaderRetryAfter, "60")
	default:
		return false, nil
	}
	if partial(c) {
		return true, c.Status(status).SendString(title + ". " + detail)
	}
	return true, d.errorPage(c, status, title, detail)
}

// pageWhenLimited answers the rate limit's refusal of a form post with a
// page, as the dashboard answers everything else.
func (d *Dashboard) pageWhenLimited(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := h(c)
		if errors.Is(err, edge.ErrRateLimited) {
			c.Set(fiber.HeaderRetryAfter, "10")
			return d.errorPage(c, fiber.StatusTooManyRequests, "Too many attempts", "This address sent too many requests. Try again in a few seconds.")
		}
		return err
	}
}

// failed counts a failed sign-in, session or link against the client.
func (d *Dashboard) failed(c *fiber.Ctx) {
	if d.o.Guard != nil {
		d.o.Guard.AuthFailed(c)
	}
}

// requireLink lets through requests whose address carries a valid shared
// link, scoped to what the link shows.
func (d *Dashboard) requireLink(c *fiber.Ctx) error {
	secure(c)
	if refused, err := d.refuse(c); refused {
		return err
	}
	token := c.Params("token")
	link, err := d.links.Open(c.UserContext(), token)
	switch {
	case errors.Is(err, auth.ErrLinkRevoked):
		d.failed(c)
		return d.errorPage(c, fiber.StatusGone, "This link was revoked", "Ask whoever sent it for a new one.")
	case errors.Is(err, auth.ErrLinkInvalid):
		d.failed(c)
		return d.errorPage(c, fiber.StatusNotFound, "This link does not work", "Check that it was copied whole, or ask whoever sent it for a new one.")
	case err != nil:
		d.warn.Warn("cannot open a shared link", "err", err)
		return d.errorPage(c, fiber.StatusServiceUnavailable, "The dashboard cannot open this link right now", "ClickHouse did not answer. Try again in a moment.")
	}
	c.Locals(viewerKey, viewer{base: "/dashboard/s/" + token, scope: link.Scope, name: link.Name, link: true})
	return c.Next()
}

func (d *Dashboard) loginPage(c *fiber.Ctx) error {
	secure(c)
	if refused, err := d.refuse(c); refused {
		return err
	}
	next := safeNext(c.Query("next"))
	if _, err := d.session(c); err == nil {
		return c.Redirect(next, fiber.StatusSeeOther)
	}
	return d.render(c, fiber.StatusOK, "login", map[string]any{"Next": next, "SignedOut": c.Query("signed_out") != ""})
}

func (d *Dashboard) login(c *fiber.Ctx) error {
	secure(c)
	next := safeNext(c.FormValue("next"))
	if !sameOrigin(c) {
		return d.errorPage(c, fiber.StatusForbidden, "Sign-in refused", "The form was sent from another site.")
	}
	if refused, err := d.refuse(c); refused {
		return err
	}
	token := strings.TrimSpace(c.FormValue("key"))
	fail := func(status int, msg string) error {
		return d.render(c, status, "login", map[string]any{"Next": next, "Error": msg})
	}
	if token == "" {
		return fail(fiber.StatusBadRequest, "Paste an API key with the dashboard scope.")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	k, err := d.o.Keys.Authenticate(ctx, token, auth.Dashboard)
	if errors.Is(err, auth.ErrKeyUnknown) || errors.Is(err, auth.ErrKeyRevoked) {
		d.failed(c)
	}
	switch {
	case errors.Is(err, auth.ErrKeyUnknown):
		return fail(fiber.StatusUnauthorized, "That key is not valid. Check it was copied whole.")
	case errors.Is(err, auth.ErrKeyRevoked):
		return fail(fiber.StatusUnauthorized, "That key has been revoked.")
	case errors.Is(err, auth.ErrKeyForbidden):
		return fail(fiber.StatusForbidden, "That key lacks the dashboard scope. Create one with: credstats keys create --name NAME --scope dashboard")
	case err != nil:
		d.warn.Warn("cannot check a dashboard sign-in", "err", err)
		return fail(fiber.StatusServiceUnavailable, "The key cannot be checked right now: ClickHouse did not answer. Try again in a moment.")
	}
	exp := d.o.Now().Add(d.o.SessionTTL)
	c.Cookie(&fiber.Cookie{
		Name:     CookieName,
		Value:    auth.SignSession(d.o.Secret, auth.Session{KeyID: k.ID, Expires: exp}),
		Path:     "/dashboard",
		Expires:  exp,
		HTTPOnly: true,
		Secure:   c.Protocol() == "https",
		SameSite: fiber.CookieSameSiteStrictMode,
	})
	if d.sessions != nil {
		d.sessions.Remove(k.ID)
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}

func (d *Dashboard) logout(c *fiber.Ctx) error {
	secure(c)
	if !sameOrigin(c) {
		return d.errorPage(c, fiber.StatusForbidden, "Sign-out refused", "The form was sent from another site.")
	}
	d.clearCookie(c)
	return c.Redirect("/dashboard/login?signed_out=1", fiber.StatusSeeOther)
}

func (d *Dashboard) clearCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{
		Name:     CookieName,
		Value:    "",
		Path:     "/dashboard",
		Expires:  time.Unix(0, 0),
		MaxAge:   -1,
		HTTPOnly: true,
		Secure:   c.Protocol() == "https",
		SameSite: fiber.CookieSameSiteStrictMode,
	})
}

// safeNext keeps a sign-in's return address on the dashboard, so that the
// form cannot be used to send people elsewhere.
func safeNext(next string) string {
	u, err := url.Parse(next)
	switch {
	case err != nil, next == "", u.Scheme != "", u.Host != "", u.User != nil,
		strings.ContainsAny(next, "\\\r\n"), strings.HasPrefix(next, "//"),
		u.Path != "/dashboard" && !strings.HasPrefix(u.Path, "/dashboard/"),
		strings.HasPrefix(u.Path, "/dashboard/login"), strings.HasPrefix(u.Path, "/dashboard/s/"):
		return "/dashboard"
	}
	return u.RequestURI()
}

// sameOrigin refuses form posts from other sites. Browsers send Origin with
// every POST; a request without one is not from a browser form.
func sameOrigin(c *fiber.Ctx) bool {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" || origin == "null" && c.Get("Sec-Fetch-Site") == "same-origin" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == c.Hostname()
}

// partial reports whether the request is for a piece of a page (a section
// or a CSV) rather than a page a person navigated to.
func partial(c *fiber.Ctx) bool {
	return c.Params("section") != "" || strings.HasSuffix(c.Path(), "/export.csv")
}

// secure sets the headers every dashboard response carries. The policy
// lets a page load only what this server serves: no CDN, font service or
// any other host, and no inline script.
func secure(c *fiber.Ctx) {
	c.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set(fiber.HeaderCacheControl, "no-store")
}

func withParam(raw, k, v string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

func dropParam(raw, k string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	if !q.Has(k) {
		return raw
	}
	q.Del(k)
	u.RawQuery = q.Encode()
	return u.RequestURI()
}
