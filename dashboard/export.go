package dashboard

import (
	"bufio"
	"context"
	"encoding/csv"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/internal/event"
)

// export answers the CSV of one section: the query behind what it shows,
// streamed through the aggregator's export cursor as /api/v1/export is.
func (d *Dashboard) export(c *fiber.Ctx) error {
	v, _ := d.view(c, c.Params("id"))
	if id := c.Params("id"); id != "" && (!event.ValidID(id) || v.scope.Kind == ScopeCredential && id != v.scope.Value) {
		return c.Status(fiber.StatusNotFound).SendString("No such credential here.")
	}
	name := c.Query("section", "trend")
	s := findSection(v, name)
	if s == nil {
		return c.Status(fiber.StatusNotFound).SendString("No such section.")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), d.o.SectionTimeout)
	defer cancel()
	q := s.export(v)
	cur, err := d.o.Engine.Export(ctx, q)
	if err != nil {
		return c.Status(fiber.StatusServiceUnavailable).SendString(d.sectionError(err))
	}
	defer cur.Close()
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="credstats-`+name+`.csv"`)
	bw := bufio.NewWriter(c)
	w := csv.NewWriter(bw)
	w.Write(append(append([]string{}, q.Dimensions...), q.Metrics...))
	for cur.Next() {
		row := cur.Row()
		rec := append([]string{}, row.Dimensions...)
		for _, m := range row.Metrics {
			rec = append(rec, strconv.FormatFloat(m, 'f', -1, 64))
		}
		w.Write(rec)
	}
	w.Flush()
	if err := cur.Err(); err != nil {
		d.o.Logger.Warn("a dashboard export stopped", "err", err)
	}
	if err := w.Error(); err != nil {
		return err
	}
	return bw.Flush()
}
