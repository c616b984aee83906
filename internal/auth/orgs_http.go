package auth

import (
	"errors"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/internal/edge"
	"github.com/credstats/credstats/internal/event"
)

// OrgRoutes registers the operator's API over organizations, behind
// operator (a key with the operator scope): GET and POST
// /api/v1/admin/orgs, PATCH and DELETE /api/v1/admin/orgs/:id.
func (s *Orgs) OrgRoutes(r fiber.Router, operator fiber.Handler, keys *Keys, links *Links) {
	h := orgHandlers{s, keys, links}
	r.Get("/api/v1/admin/orgs", operator, h.list)
	r.Post("/api/v1/admin/orgs", operator, h.create)
	r.Patch("/api/v1/admin/orgs/:id", operator, h.update)
	r.Delete("/api/v1/admin/orgs/:id", operator, h.delete)
}

type orgHandlers struct {
	orgs  *Orgs
	keys  *Keys
	links *Links
}

type orgBody struct {
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
}

func (h orgHandlers) list(c *fiber.Ctx) error {
	all, err := h.orgs.List(c.UserContext())
	if err != nil {
		return orgError(err)
	}
	all = slices.DeleteFunc(all, Org.Deleted)
	return c.JSON(fiber.Map{"organizations": all})
}

func (h orgHandlers) create(c *fiber.Ctx) error {
	var b orgBody
	if err := event.DecodeJSON(c.Body(), &b); err != nil {
		return edge.Invalid(err.Error())
	}
	o, err := h.orgs.Create(c.UserContext(), b.Name, b.Hosts)
	if err != nil {
		return orgError(err)
	}
	return c.Status(fiber.StatusCreated).JSON(o)
}

func (h orgHandlers) update(c *fiber.Ctx) error {
	var b orgBody
	if err := event.DecodeJSON(c.Body(), &b); err != nil {
		return edge.Invalid(err.Error())
	}
	o, err := h.orgs.Update(c.UserContext(), strings.Clone(c.Params("id")), b.Name, b.Hosts)
	if err != nil {
		return orgError(err)
	}
	return c.JSON(o)
}

func (h orgHandlers) delete(c *fiber.Ctx) error {
	id := strings.Clone(c.Params("id"))
	if err := h.orgs.Delete(c.UserContext(), id, h.keys, h.links); err != nil {
		return orgError(err)
	}
	return c.JSON(fiber.Map{"deleted": id})
}

// orgError maps the store's errors: a missing organization is 404, a
// refused name or host 400, ClickHouse's trouble 503.
func orgError(err error) error {
	switch {
	case errors.Is(err, ErrOrgNotFound), errors.Is(err, ErrOrgDeleted):
		return edge.NotFound(err.Error())
	case errors.Is(err, errOrgRefused):
		return edge.Invalid(strings.TrimPrefix(err.Error(), errOrgRefused.Error()+": "))
	}
	return edge.Unavailable("cannot change organizations right now; try again shortly")
}
