package server

import (
	"github.com/gofiber/fiber/v2"
)

func (s *Server) adminCreateJob(c *fiber.Ctx) error {
	var in struct {
		Kind string `json:"kind"`
	}
	if err := s.decode(c, &in); err != nil {
		return err
	}
	c.Locals(localsAuditTarget, in.Kind)
	actor, _ := c.Locals(localsAdminActor).(string)
	j, err := s.svc.CreateJob(c.UserContext(), in.Kind, actor)
	if err != nil {
		return err
	}
	c.Locals(localsAuditTarget, in.Kind+" "+j.ID)
	c.Status(fiber.StatusAccepted)
	return ok(c, fiber.Map{"job": j})
}

func (s *Server) adminListJobs(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	js, err := s.svc.ListJobs(c.UserContext(), c.Query("kind"), int(limit))
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"jobs": js})
}

func (s *Server) adminGetJob(c *fiber.Ctx) error {
	j, err := s.svc.GetJob(c.UserContext(), param(c, "id"))
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"job": j})
}

func (s *Server) adminCancelJob(c *fiber.Ctx) error {
	j, err := s.svc.CancelJob(c.UserContext(), param(c, "id"))
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"job": j})
}
