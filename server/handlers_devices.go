package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
)

// devices lists the caller's devices (a bare array, like every list).
func (s *Server) devices(c *fiber.Ctx) error {
	ds, err := s.svc.ListDevices(c.UserContext(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(ds)
}

func (s *Server) renameDevice(c *fiber.Ctx) error {
	var b struct {
		DisplayName *string `json:"display_name"`
	}
	if err := s.decode(c, &b); err != nil {
		return err
	}
	if b.DisplayName == nil {
		return chat.Invalid("display_name is required (\"\" clears it)")
	}
	d, err := s.svc.RenameDevice(c.UserContext(), principal(c), param(c, "deviceId"), *b.DisplayName)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"device": d})
}

// deleteDevice ends the device's token and sockets on every node; the
// caller's own device is allowed (it is a logout).
func (s *Server) deleteDevice(c *fiber.Ctx) error {
	if err := s.svc.DeleteDevice(c.UserContext(), principal(c), param(c, "deviceId")); err != nil {
		return err
	}
	return ok(c, fiber.Map{})
}
