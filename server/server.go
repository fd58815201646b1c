// Package server is Crypt-Talk's HTTP face: the Fiber app with its routes
// and middleware, thin handlers over the chat domain, and the WebSocket
// adapter in front of the gateway.
package server

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/server/gateway"
)

// Options configure the HTTP server.
type Options struct {
	AdminToken     string
	TrustedProxies []string // IPs or CIDRs whose X-Forwarded-For is believed
	AllowedOrigins []string // browser origins allowed besides the server's own host
	BodyBytes      int
	JSONBodyBytes  int  // a JSON request body (every route but uploads)
	AdminListener  bool // the admin API and pprof live on their own listener only
	JSONDepth      int
	WSFrameBytes   int64
	WSSendQueue    int
	WSAuthTimeout  time.Duration
	WSPingInterval time.Duration
	WSLimits       gateway.Limits // frame budget and socket caps
	HeaderTimeout  time.Duration  // a request's headers must arrive within this (slowloris)
	Version        string
	Logger         *slog.Logger
	// Ready may add checks to /readyz (e.g. the federation queue).
	Ready func(ctx context.Context) map[string]error
	// Registry, when set, is where the server's metrics go (shared with
	// federation); nil: a registry of its own.
	Registry *prometheus.Registry
	// Federation, when set, mounts the server-to-server routes
	// (/_crypttalk/...) on the public listener.
	Federation interface{ Routes(fiber.Router) }
	// FederationAdmin, when set, serves /_admin/v1/federation and
	// /_admin/v1/keys/rotate-signing.
	FederationAdmin *chat.FederationAdmin
	// Listen and AdminListen are the configured listener addresses, for
	// the node registry (ctl health names nodes by them).
	Listen, AdminListen string
}

// Server is one node's HTTP front.
type Server struct {
	opts    Options
	svc     *chat.Service
	gw      *gateway.Gateway
	log     *slog.Logger
	metrics *metrics
	trusted []*net.IPNet
	public  *fiber.App
	admin   *fiber.App

	draining atomic.Bool // set by Shutdown: no new sockets
}

// New builds the public and admin apps.
func New(svc *chat.Service, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BodyBytes <= 0 {
		opts.BodyBytes = 11 << 20
	}
	if opts.JSONBodyBytes <= 0 {
		opts.JSONBodyBytes = 64 << 10
	}
	if opts.JSONDepth <= 0 {
		opts.JSONDepth = 32
	}
	if opts.WSFrameBytes <= 0 {
		opts.WSFrameBytes = 64 << 10
	}
	trusted, err := parseCIDRs(opts.TrustedProxies)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, svc: svc, log: opts.Logger, metrics: newMetrics(opts.Registry), trusted: trusted}
	svc.SetMetrics(s.metrics)
	s.gw = gateway.New(svc, gateway.Options{
		AuthTimeout: opts.WSAuthTimeout, PingInterval: opts.WSPingInterval, SendQueue: opts.WSSendQueue,
		JSONDepth: opts.JSONDepth, Logger: opts.Logger, Metrics: s.metrics, Limits: opts.WSLimits,
	})
	s.public = s.newApp()
	s.routes(s.public)
	s.admin = s.newApp()
	s.adminRoutes(s.admin)
	return s, nil
}

func (s *Server) newApp() *fiber.App {
	return s.headerDeadline(fiber.New(fiber.Config{
		AppName:                      "crypttalk",
		ErrorHandler:                 s.errorHandler,
		Immutable:                    true, // handler values may outlive fasthttp's buffers
		BodyLimit:                    256 << 10,
		StreamRequestBody:            true, // larger bodies stream; limits are enforced per route
		DisablePreParseMultipartForm: true, // never spool an upload's plaintext to temp files
		ReadTimeout:                  60 * time.Second,
		WriteTimeout:                 120 * time.Second,
		IdleTimeout:                  120 * time.Second,
		DisableStartupMessage:        true,
	}))
}

// smallBody is the largest body that must arrive within HeaderTimeout.
const smallBody = 64 << 10

// headerDeadline gives a request's headers opts.HeaderTimeout to arrive,
// so half-sent requests (slowloris) are dropped in seconds. A small body
// (up to smallBody, every JSON route) must follow as promptly; a large or
// chunked one (uploads) has the app's ReadTimeout, so slow uploads keep
// working. fasthttp arms ReadTimeout when it starts reading a request and
// HeaderReceived's ReadTimeout once the headers are read.
func (s *Server) headerDeadline(app *fiber.App) *fiber.App {
	if s.opts.HeaderTimeout <= 0 {
		return app
	}
	short, long := s.opts.HeaderTimeout, app.Config().ReadTimeout
	srv := app.Server()
	srv.ReadTimeout = short
	srv.HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		if n := h.ContentLength(); n >= 0 && n <= smallBody {
			return fasthttp.RequestConfig{ReadTimeout: short}
		}
		return fasthttp.RequestConfig{ReadTimeout: long}
	}
	return app
}

// Gateway returns the WebSocket gateway (for bus reconnect hooks).
func (s *Server) Gateway() *gateway.Gateway { return s.gw }

// Serve serves the public API on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.public.Listener(newLingerListener(ln)) }

// ServeAdmin serves the admin API and /metrics on ln until Shutdown.
func (s *Server) ServeAdmin(ln net.Listener) error { return s.admin.Listener(ln) }

// Shutdown drains the node in order: new WebSocket upgrades get 503 (the
// load balancer sends them elsewhere), every socket is closed with 1001
// and its session joined, then the listeners close and in-flight requests
// finish, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.gw.Shutdown(ctx)
	err := s.public.ShutdownWithContext(ctx)
	if aerr := s.admin.ShutdownWithContext(ctx); err == nil {
		err = aerr
	}
	return err
}
