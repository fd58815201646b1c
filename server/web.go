package server

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/crypttalk/crypttalk/web"
)

// clientRoutes are the paths at which the web client's page is served.
// The client has no router of its own (one page), so it is "/" alone; a
// client route added later goes here.
var clientRoutes = map[string]bool{"/": true}

// webClient serves the embedded web client (no authentication: the page
// logs in through the API): its page at its routes and its own files by
// name. Any other path is a JSON 404, so a mistyped health check or API
// path fails instead of answering 200 with the page.
func (s *Server) webClient(app *fiber.App) {
	files := web.FS()
	serve := filesystem.New(filesystem.Config{Root: http.FS(files), Index: "index.html", MaxAge: 300})
	app.Use(func(c *fiber.Ctx) error {
		if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
			return c.Next()
		}
		p := c.Path()
		if clientRoutes[p] {
			c.Path("/")
			return serve(c)
		}
		if isClientFile(files, p) {
			return serve(c)
		}
		return c.Next()
	})
}

// isClientFile reports whether p names a regular file of the client.
func isClientFile(files fs.FS, p string) bool {
	name := strings.TrimPrefix(p, "/")
	if name == "" || !fs.ValidPath(name) {
		return false
	}
	st, err := fs.Stat(files, name)
	return err == nil && st.Mode().IsRegular()
}
