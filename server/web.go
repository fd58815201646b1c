package server

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/crypttalk/crypttalk/web"
)

// webClient serves the embedded web client at / (no authentication: the
// page logs in through the API).
func (s *Server) webClient(app *fiber.App) {
	app.Use("/", filesystem.New(filesystem.Config{
		// API paths never fall back to the page: unknown ones are JSON 404s.
		Next: func(c *fiber.Ctx) bool {
			p := c.Path()
			return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/_") || p == "/ws"
		},
		Root:         http.FS(web.FS()),
		Index:        "index.html",
		NotFoundFile: "index.html",
		MaxAge:       300,
	}))
}
