package server

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/store"
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

func (s *Server) adminListUsers(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	users, err := s.svc.AdminListUsers(c.UserContext(), store.UserQuery{Prefix: c.Query("q"), After: c.Query("after"), Limit: int(limit)})
	if err != nil {
		return err
	}
	return c.JSON(users)
}

func (s *Server) adminDeactivate(c *fiber.Ctx) error { return s.setDeactivated(c, true) }
func (s *Server) adminReactivate(c *fiber.Ctx) error { return s.setDeactivated(c, false) }

func (s *Server) setDeactivated(c *fiber.Ctx, v bool) error {
	u, err := s.svc.ResolveAnyUser(c.UserContext(), param(c, "id"))
	if err != nil {
		return err
	}
	u, err = s.svc.SetDeactivated(c.UserContext(), u.ID, v)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"user": chat.AdminView(u)})
}

func (s *Server) adminRevoke(c *fiber.Ctx) error {
	u, err := s.svc.ResolveAnyUser(c.UserContext(), param(c, "id"))
	if err != nil {
		return err
	}
	n, err := s.svc.RevokeUser(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"revoked": n})
}

func (s *Server) adminRewrap(c *fiber.Ctx) error {
	rep, err := s.svc.Rewrap(c.UserContext())
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"rewrapped": rep.Rewrapped, "failed": rep.Failed, "active": s.svc.Keyring().Active()})
}

func (s *Server) adminPurge(c *fiber.Ctx) error {
	rep, err := s.svc.PurgeOnce(c.UserContext())
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"messages": rep.Messages, "conversations": rep.Conversations})
}
