package aggregator

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/aggregator/counters"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/edge"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/registry"
)

// The credential registry's routes: PUT /api/v1/credentials/:id and the
// NDJSON import record entries (scope registry:write); GET
// /api/v1/credentials lists them with their counters (stats:read); POST
// /api/v1/credentials/stats answers the public counters of many
// credentials in one call.

// MaxImportLines bounds the entries of one import request; the request's
// body is bounded by the server's body limit too.
const MaxImportLines = 10_000

// RegistryRoutes registers the registry's routes behind write (scope
// registry:write) and read (scope stats:read); limited wraps the public
// bulk counters as the other public routes.
func (a *API) RegistryRoutes(r fiber.Router, write, read fiber.Handler, limited func(fiber.Handler) fiber.Handler) {
	r.Post("/api/v1/credentials/stats", limited(a.manyStats))
	r.Post("/api/v1/credentials/import", write, a.importCredentials)
	r.Put("/api/v1/credentials/:id", write, a.putCredential)
	r.Get("/api/v1/credentials", read, a.listCredentials)
}

// registry reads over the read-only connection; writer records over the
// other.
func (a *API) registry() registry.Store { return registry.Store{Conn: a.o.Conn, Now: a.o.Now} }

func (a *API) writer() (registry.Store, error) {
	if a.o.Write == nil {
		return registry.Store{}, edge.Unavailable("this server does not record credentials")
	}
	return registry.Store{Conn: a.o.Write, Now: a.o.Now}, nil
}

func (a *API) putCredential(c *fiber.Ctx) error {
	e, err := registry.Decode(c.Body(), strings.Clone(c.Params("id")))
	if err != nil {
		return entryError(err, 0)
	}
	if err := ownEntry(c, &e); err != nil {
		return entryError(err, 0)
	}
	w, err := a.writer()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), a.o.QueryTimeout)
	defer cancel()
	if err := w.Put(ctx, []registry.Entry{e}); err != nil {
		a.warn.Warn("cannot record a credential", "err", err)
		return edge.Unavailable("cannot record the credential right now; try again shortly")
	}
	return c.JSON(e)
}

// ownEntry gives an organization's key's entries its organization, and
// refuses another: an organization records only its own credentials.
func ownEntry(c *fiber.Ctx, e *registry.Entry) error {
	org := auth.KeyOf(c).Organization
	switch {
	case org == "":
	case e.Organization == "":
		e.Organization = org
	case e.Organization != org:
		return &event.FieldError{Field: "organization", Message: "must be this key's organization, " + org}
	}
	return nil
}

// entryError names the field, and the line of an import, that broke a
// rule.
func entryError(err error, line int) error {
	at := ""
	if line > 0 {
		at = "line " + strconv.Itoa(line) + ": "
	}
	var fe *event.FieldError
	if errors.As(err, &fe) {
		return edge.Invalid(at + fe.Error())
	}
	return edge.Invalid(at + err.Error())
}

// importCredentials records an NDJSON body of entries, all or none: every
// line is checked first, and the first bad ones are named by line.
func (a *API) importCredentials(c *fiber.Ctx) error {
	var entries []registry.Entry
	var bad []string
	sc := bufio.NewScanner(bytes.NewReader(c.Body()))
	sc.Buffer(nil, len(c.Body())+1)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if len(entries) == MaxImportLines {
			return edge.Invalid(fmt.Sprintf("at most %d credentials in one import; send the rest in another", MaxImportLines))
		}
		e, err := registry.Decode(text, "")
		if err == nil {
			err = ownEntry(c, &e)
		}
		if err != nil {
			if len(bad) < 20 {
				bad = append(bad, entryError(err, line).Error())
			}
			continue
		}
		entries = append(entries, e)
	}
	if len(bad) > 0 {
		return edge.Invalid("nothing imported: " + strings.Join(bad, "; "))
	}
	if len(entries) == 0 {
		return edge.Invalid("the body must be NDJSON: one credential as a JSON object a line")
	}
	w, err := a.writer()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), a.o.QueryTimeout)
	defer cancel()
	if err := w.Put(ctx, entries); err != nil {
		a.warn.Warn("cannot import credentials", "err", err)
		return edge.Unavailable("nothing imported: cannot record credentials right now; try again shortly")
	}
	return c.JSON(fiber.Map{"imported": len(entries)})
}

// manyStats answers {"ids": [...]} with the counters of each.
func (a *API) manyStats(c *fiber.Ctx) error {
	var body struct {
		IDs []string `json:"ids"`
	}
	if err := event.DecodeJSON(c.Body(), &body); err != nil {
		return entryError(err, 0)
	}
	switch {
	case len(body.IDs) == 0:
		return edge.Invalid("ids: name at least one credential")
	case len(body.IDs) > counters.MaxMany:
		return edge.Invalid(fmt.Sprintf("ids: at most %d credentials in one call", counters.MaxMany))
	}
	for i, id := range body.IDs {
		if !event.ValidID(id) {
			return edge.Invalid(fmt.Sprintf("ids[%d]: %s", i, strings.TrimPrefix(badIDMessage, "id: ")))
		}
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), a.o.RefreshTimeout)
	defer cancel()
	stats, err := a.store.ManyStats(ctx, slices.Compact(slices.Sorted(slices.Values(body.IDs))))
	if err != nil {
		a.warn.Warn("cannot read credential stats", "err", err)
		return edge.Unavailable("cannot read stats right now; try again shortly")
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age="+strconv.Itoa(a.maxAge()))
	c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	return c.JSON(fiber.Map{"stats": stats})
}

// The listing's parameters, as credential platforms name them.
var sortFields = map[string]string{
	"id": "id", "name": "name", "recipient_name": "recipient_name", "group": "group_id",
	"group_name": "group_name", "organization": "organization", "issued_at": "issued_at",
	"expires_at": "expires_at", "status": "status",
}

const maxPageSize = 100

// listCredentials answers GET /api/v1/credentials?sort-field=&
// sort-direction=&page-size=&current-page= in the envelope
// {"credentials": {"params", "count", "rows"}}, each row an entry with its
// counters.
func (a *API) listCredentials(c *fiber.Ctx) error {
	field := c.Query("sort-field", "issued_at")
	col, ok := sortFields[field]
	if !ok {
		names := slices.Sorted(func(yield func(string) bool) {
			for k := range sortFields {
				if !yield(k) {
					return
				}
			}
		})
		return edge.Invalid("sort-field: one of " + strings.Join(names, ", "))
	}
	dir := strings.ToLower(c.Query("sort-direction", "desc"))
	if dir != "asc" && dir != "desc" {
		return edge.Invalid("sort-direction: asc or desc")
	}
	size, err := strconv.Atoi(c.Query("page-size", "20"))
	if err != nil || size < 1 || size > maxPageSize {
		return edge.Invalid(fmt.Sprintf("page-size: a number from 1 to %d", maxPageSize))
	}
	page, err := strconv.Atoi(c.Query("current-page", "1"))
	if err != nil || page < 1 || page > 1_000_000/size {
		return edge.Invalid("current-page: a number from 1, at most a million rows in")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), a.o.QueryTimeout)
	defer cancel()
	// An organization's key lists its own entries.
	org := auth.KeyOf(c).Organization
	latest := `(SELECT id, argMax(` + col + `, version) AS k, argMax(organization, version) AS org FROM credentials GROUP BY id)
		WHERE ? = '' OR org = ?`
	var count uint64
	if err := a.o.Conn.QueryRow(ctx, "SELECT count() FROM "+latest, org, org).Scan(&count); err != nil {
		a.warn.Warn("cannot list credentials", "err", err)
		return edge.Unavailable("cannot list credentials right now; try again shortly")
	}
	rows, err := a.o.Conn.Query(ctx, "SELECT id FROM "+latest+" ORDER BY k "+dir+", id LIMIT ? OFFSET ?", org, org, size, (page-1)*size)
	if err != nil {
		a.warn.Warn("cannot list credentials", "err", err)
		return edge.Unavailable("cannot list credentials right now; try again shortly")
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return edge.Unavailable("cannot list credentials right now; try again shortly")
		}
		ids = append(ids, id)
	}
	rows.Close()
	entries, err := a.registry().Get(ctx, ids)
	if err != nil {
		return edge.Unavailable("cannot list credentials right now; try again shortly")
	}
	stats, err := a.store.ManyStats(ctx, ids)
	if err != nil {
		return edge.Unavailable("cannot list credentials right now; try again shortly")
	}
	type row struct {
		registry.Entry
		Stats counters.Stats `json:"stats"`
	}
	out := make([]row, 0, len(ids))
	for _, id := range ids {
		out = append(out, row{entries[id], stats[id]})
	}
	return c.JSON(fiber.Map{"credentials": fiber.Map{
		"params": fiber.Map{"sort-field": field, "sort-direction": dir, "page-size": size, "current-page": page},
		"count":  count,
		"rows":   out,
	}})
}
