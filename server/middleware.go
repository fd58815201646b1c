package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
)

const (
	localsPrincipal = "principal"
	localsRequestID = "request_id"
)

// requestIDs tags each request (and its log lines) with an id; a client's
// X-Request-ID is kept when it is short and printable.
func requestIDs(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Locals(localsRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
	return c.Next()
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localsRequestID).(string)
	return id
}

// securityHeaders are sent on every answer; the web client's pages relax
// nothing but what they need.
func securityHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	// connect-src 'self' covers the page's own ws:// and wss:// origin
	// (CSP Level 3); "ws: wss:" would let injected script talk to any host.
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	return c.Next()
}

// observe logs each request (never its body or Authorization header) and
// records its latency by route.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			s.log.Error("error handler failed", "err", herr)
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	s.metrics.httpLat.WithLabelValues(c.Method(), route, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	s.log.Debug("http", "request_id", requestID(c), "method", c.Method(), "route", route, "status", status, "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// authenticate requires a valid bearer token.
func (s *Server) authenticate(c *fiber.Ctx) error {
	p, err := s.svc.AuthenticateFrom(c.UserContext(), bearer(c), chat.Client{IP: s.clientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)})
	if err != nil {
		return err
	}
	c.Locals(localsPrincipal, p)
	return c.Next()
}

func principal(c *fiber.Ctx) *chat.Principal {
	p, _ := c.Locals(localsPrincipal).(*chat.Principal)
	return p
}

func bearer(c *fiber.Ctx) string {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// clientIP is the peer address, or the first untrusted address in
// X-Forwarded-For (read right to left) when the peer is a trusted proxy.
// A client cannot spoof it: entries it adds sit left of the proxies'.
func (s *Server) clientIP(c *fiber.Ctx) string {
	ip := c.Context().RemoteIP()
	if !s.isTrusted(ip) {
		return ip.String()
	}
	hops := strings.Split(c.Get(fiber.HeaderXForwardedFor), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := net.ParseIP(strings.TrimSpace(hops[i]))
		if hop == nil {
			break
		}
		if !s.isTrusted(hop) {
			return hop.String()
		}
		ip = hop
	}
	return ip.String()
}

func (s *Server) isTrusted(ip net.IP) bool {
	for _, n := range s.trusted {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func parseCIDRs(list []string) ([]*net.IPNet, error) {
	out := make([]*net.IPNet, 0, len(list))
	for _, v := range list {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if !strings.Contains(v, "/") {
			if ip := net.ParseIP(v); ip != nil && ip.To4() != nil {
				v += "/32"
			} else {
				v += "/128"
			}
		}
		_, n, err := net.ParseCIDR(v)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", v, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// originAllowed accepts requests without Origin (non-browser clients), the
// server's own host, and the configured allowlist.
func (s *Server) originAllowed(c *fiber.Ctx) bool {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, c.Hostname()) {
		return true
	}
	for _, a := range s.opts.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(a, "/"), origin) {
			return true
		}
	}
	return false
}

// preReadBytes is what fasthttp reads of a body before the handler runs
// when bodies are streamed (see readBodyWithStreaming in fasthttp): a body
// up to this size is always read whole.
const preReadBytes = 8 << 10

// closeUnread closes the connection after a request whose body was not
// read to its end (refused as too large, or a route that reads no body):
// the unread bytes would otherwise be parsed as the next request on the
// connection, a request-smuggling hole behind a proxy that reuses
// connections.
func closeUnread(c *fiber.Ctx) error {
	err := c.Next()
	if cl := c.Request().Header.ContentLength(); (cl > preReadBytes || cl == -1) && c.Locals(localsBodyRead) == nil {
		c.Context().SetConnectionClose()
	}
	return err
}
