package server

import (
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"

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
	pre := &precompressed{files: files}
	serve := filesystem.New(filesystem.Config{Root: http.FS(files), Index: "index.html", MaxAge: 300})
	app.Use(func(c *fiber.Ctx) error {
		if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
			return c.Next()
		}
		p := c.Path()
		if clientRoutes[p] {
			// Only the page runs the end-to-end crypto (WebAssembly), so
			// only the page's policy allows compiling it; nothing else
			// is loosened (no 'unsafe-eval', no inline script).
			c.Set(fiber.HeaderContentSecurityPolicy, pagePolicy)
			c.Path("/")
			return serve(c)
		}
		if isClientFile(files, p) {
			if done, err := pre.serve(c, p); done {
				return err
			}
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

// pagePolicy is the page's CSP: the one of every answer (securityHeaders)
// plus 'wasm-unsafe-eval' in script-src for the crypto library's wasm.
const pagePolicy = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"

// precompressed serves a client file's .br or .gz sibling (written by
// scripts/vendor-crypto-wasm.sh) when the browser accepts that encoding:
// the crypto wasm is 7.8 MB raw and 1.4 MB in brotli. The bytes are read
// from the embedded files once and kept.
type precompressed struct {
	files fs.FS
	cache sync.Map // name -> []byte, or nil when the file does not exist
}

var encodings = []struct{ token, ext string }{{"br", ".br"}, {"gzip", ".gz"}}

// serve answers p from a precompressed sibling; done is false when there
// is none the browser accepts, so the plain file is served.
func (pc *precompressed) serve(c *fiber.Ctx, p string) (done bool, err error) {
	name := strings.TrimPrefix(p, "/")
	if strings.HasSuffix(name, ".br") || strings.HasSuffix(name, ".gz") {
		return false, nil
	}
	accept := c.Get(fiber.HeaderAcceptEncoding)
	for _, e := range encodings {
		b := pc.read(name + e.ext)
		if b == nil {
			continue
		}
		// Every answer for a file with siblings varies, even the plain one.
		c.Vary(fiber.HeaderAcceptEncoding)
		if !acceptsEncoding(accept, e.token) {
			continue
		}
		typ := mime.TypeByExtension(path.Ext(name))
		if typ == "" {
			typ = fiber.MIMEOctetStream
		}
		c.Set(fiber.HeaderContentType, typ)
		c.Set(fiber.HeaderContentEncoding, e.token)
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
		return true, c.Send(b) // a HEAD answer drops the body itself
	}
	return false, nil
}

func (pc *precompressed) read(name string) []byte {
	if v, ok := pc.cache.Load(name); ok {
		b, _ := v.([]byte)
		return b
	}
	b, err := fs.ReadFile(pc.files, name)
	if err != nil {
		b = nil
	}
	pc.cache.Store(name, b)
	return b
}

// acceptsEncoding reports whether an Accept-Encoding value takes token
// with a quality above zero.
func acceptsEncoding(header, token string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), token) {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
