package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
)

func (s *Server) federationAdmin() (*chat.FederationAdmin, error) {
	if s.opts.FederationAdmin == nil {
		return nil, chat.NotFound("federation is off on this server")
	}
	return s.opts.FederationAdmin, nil
}

func (s *Server) adminFederationDestinations(c *fiber.Ctx) error {
	fa, err := s.federationAdmin()
	if err != nil {
		return err
	}
	ds, err := fa.Destinations(c.UserContext())
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"destinations": ds})
}

func (s *Server) adminFederationRetry(c *fiber.Ctx) error {
	fa, err := s.federationAdmin()
	if err != nil {
		return err
	}
	c.Locals(localsAuditTarget, param(c, "server"))
	d, err := fa.Retry(c.UserContext(), param(c, "server"))
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"destination": d})
}

func (s *Server) adminRotateSigning(c *fiber.Ctx) error {
	fa, err := s.federationAdmin()
	if err != nil {
		return err
	}
	r, err := fa.RotateSigningKey(c.UserContext())
	if err != nil {
		return err
	}
	c.Locals(localsAuditTarget, r.Active)
	return ok(c, fiber.Map{"active": r.Active, "old": r.Old})
}
