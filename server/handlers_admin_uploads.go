package server

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
)

// adminPurgeUploads removes unannounced uploads and orphaned blobs older
// than ?seconds= (default 600), or counts them with dry_run=true.
func (s *Server) adminPurgeUploads(c *fiber.Ctx) error {
	secs, err := queryInt(c, "seconds")
	if err != nil {
		return err
	}
	if secs == 0 {
		secs = 600
	}
	if secs < 0 || secs > 100*365*24*3600 {
		return chat.Invalid("seconds must be a positive age")
	}
	dry, err := queryBool(c, "dry_run")
	if err != nil {
		return err
	}
	isDry := dry != nil && *dry
	age := time.Duration(secs) * time.Second
	target := "uploads older than " + age.String()
	if isDry {
		target += " dry-run"
	}
	c.Locals(localsAuditTarget, target)
	rep, err := s.svc.PurgeUploads(c.UserContext(), age, isDry)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"report": rep})
}
