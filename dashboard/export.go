package dashboard

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/aggregator/export"
	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/event"
)

// export answers the CSV of one section: the query behind what it shows,
// streamed as /api/v1/export streams it, within the engine's export time
// limit.
func (d *Dashboard) export(c *fiber.Ctx) error {
	v, _ := d.view(c, c.Params("id"))
	if id := c.Params("id"); id != "" && (!event.ValidID(id) || v.scope.Kind == auth.ScopeCredential && id != v.scope.Value) {
		return c.Status(fiber.StatusNotFound).SendString("No such credential here.")
	}
	name := c.Query("section", "trend")
	s := findSection(v, name)
	if s == nil {
		return c.Status(fiber.StatusNotFound).SendString("No such section.")
	}
	// The export outlives the handler: the request's context is not its.
	cur, err := d.o.Engine.Export(context.Background(), s.export(v))
	if err != nil {
		return c.Status(failedStatus(err)).SendString(d.sectionError(err))
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="credstats-`+name+`.csv"`)
	logger := d.o.Logger
	export.CSV(c, cur, func(err error) { logger.Warn("a dashboard export stopped", "err", err) })
	return nil
}
