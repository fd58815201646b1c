package server

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crypttalk/crypttalk/chat"
)

func (s *Server) healthz(c *fiber.Ctx) error {
	return ok(c, fiber.Map{"version": s.opts.Version})
}

// readyz reports each dependency; any one down makes it 503.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	checks := s.svc.Ready(ctx)
	if s.opts.Ready != nil {
		for k, v := range s.opts.Ready(ctx) {
			checks[k] = v
		}
	}
	deps := fiber.Map{}
	ready := true
	for name, err := range checks {
		up := 1.0
		state := "ok"
		if err != nil {
			ready, up, state = false, 0, "down"
			s.log.WarnContext(ctx, "dependency not ready", "dependency", name, "err", err)
		}
		deps[name] = state
		s.metrics.deps.WithLabelValues(name).Set(up)
	}
	if !ready {
		c.Status(fiber.StatusServiceUnavailable)
		return c.JSON(fiber.Map{"status": false, "errcode": chat.CodeUnavailable, "msg": "a dependency is down", "dependencies": deps})
	}
	return ok(c, fiber.Map{"dependencies": deps})
}

func (s *Server) metricsHandler(c *fiber.Ctx) error {
	return adaptor.HTTPHandler(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))(c)
}
