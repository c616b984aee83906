// Command baseline is the physical limit the load benchmark compares the
// collector with: a bare Fiber handler, built from the same Fiber version,
// that answers 204 to any POST and does nothing else.
package main

import (
	"flag"
	"log"

	"github.com/gofiber/fiber/v2"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18901", "address to listen on")
	flag.Parse()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/api/event", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNoContent) })
	log.Fatal(app.Listen(*listen))
}
