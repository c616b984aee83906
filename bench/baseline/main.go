// Command baseline is the physical limit the load benchmark compares the
// collector with: a bare Fiber handler, built from the same Fiber version,
// that reads the headers and body the collector reads and answers 204 to
// any POST. With --immutable it runs in the mode credstats runs in, where
// Fiber copies every string it hands out, to measure what that costs.
package main

import (
	"flag"
	"log"

	"github.com/gofiber/fiber/v2"
)

var sink int

func main() {
	listen := flag.String("listen", "127.0.0.1:18901", "address to listen on")
	immutable := flag.Bool("immutable", false, "run Fiber with Immutable: true, as credstats does")
	flag.Parse()
	app := fiber.New(fiber.Config{DisableStartupMessage: true, Immutable: *immutable})
	app.Post("/api/event", func(c *fiber.Ctx) error {
		sink += len(c.Get(fiber.HeaderUserAgent)) + len(c.Get(fiber.HeaderXForwardedFor)) + len(c.Get(fiber.HeaderContentType)) + len(c.Body())
		return c.SendStatus(fiber.StatusNoContent)
	})
	log.Fatal(app.Listen(*listen))
}
