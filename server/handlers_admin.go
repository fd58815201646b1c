package server

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/store"
)

// Locals of admin requests.
const (
	localsAdminActor  = "admin_actor"
	localsAuditTarget = "audit_target"
)

// adminOnly requires the configured admin token or an admin user's access
// token; without an admin token the admin API is closed. Wrong credentials
// are rate-limited per client IP (chat.AdminAuth).
func (s *Server) adminOnly(c *fiber.Ctx) error {
	if s.opts.AdminToken == "" {
		return chat.Forbidden("the admin API is disabled (no admin token configured)")
	}
	actor, err := s.svc.AdminAuth(c.UserContext(), s.clientIP(c), bearer(c), s.opts.AdminToken)
	if err != nil {
		return err
	}
	c.Locals(localsAdminActor, actor)
	return c.Next()
}

// audited records the action in the audit log once the handler is done,
// whatever its outcome: who (set by adminOnly), what, the target (the
// resolved user_id when the handler names one, else the :id parameter),
// when, from where and the answer.
func (s *Server) audited(action string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := c.Next()
		e := &store.AuditEntry{Action: action, ClientIP: s.clientIP(c), Status: c.Response().StatusCode(), Result: "ok"}
		e.Actor, _ = c.Locals(localsAdminActor).(string)
		if t, _ := c.Locals(localsAuditTarget).(string); t != "" {
			e.Target = t
		} else {
			e.Target = param(c, "id")
		}
		if err != nil {
			ce := chat.AsError(err)
			e.Status, e.Result = ce.Status, ce.Code+": "+ce.Msg
		}
		// The request's context may be gone once the client hung up; the
		// action happened all the same and must be on record.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), 5*time.Second)
		defer cancel()
		if aerr := s.svc.RecordAudit(ctx, e); aerr != nil {
			s.log.ErrorContext(ctx, "audit log write failed", "action", action, "actor", e.Actor, "target", e.Target, "err", aerr)
		}
		return err
	}
}

// adminUser resolves the :id parameter and names it as the audit target.
func (s *Server) adminUser(c *fiber.Ctx) (*store.User, error) {
	u, err := s.svc.ResolveAnyUser(c.UserContext(), param(c, "id"))
	if err != nil {
		return nil, err
	}
	c.Locals(localsAuditTarget, u.UserID)
	return u, nil
}

func (s *Server) adminDeactivate(c *fiber.Ctx) error { return s.setDeactivated(c, true) }
func (s *Server) adminReactivate(c *fiber.Ctx) error { return s.setDeactivated(c, false) }

func (s *Server) setDeactivated(c *fiber.Ctx, v bool) error {
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	u, err = s.svc.SetDeactivated(c.UserContext(), u.ID, v)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"user": chat.AdminView(u)})
}

func (s *Server) adminMakeAdmin(c *fiber.Ctx) error   { return s.setAdmin(c, true) }
func (s *Server) adminRevokeAdmin(c *fiber.Ctx) error { return s.setAdmin(c, false) }

func (s *Server) setAdmin(c *fiber.Ctx, v bool) error {
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	u, err = s.svc.SetAdmin(c.UserContext(), u.ID, v)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"user": chat.AdminView(u)})
}

func (s *Server) adminRevoke(c *fiber.Ctx) error {
	u, err := s.adminUser(c)
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

// adminPurge runs one purge pass, or with ?dry_run=true only counts what
// it would remove.
func (s *Server) adminPurge(c *fiber.Ctx) error {
	dry, err := queryBool(c, "dry_run")
	if err != nil {
		return err
	}
	if dry != nil && *dry {
		c.Locals(localsAuditTarget, "dry-run")
		rep, capped, err := s.svc.PurgeDryRun(c.UserContext())
		if err != nil {
			return err
		}
		return ok(c, fiber.Map{"messages": rep.Messages, "conversations": rep.Conversations, "files": rep.Files, "dry_run": true, "capped": capped})
	}
	rep, err := s.svc.PurgeOnce(c.UserContext())
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"messages": rep.Messages, "conversations": rep.Conversations, "files": rep.Files, "dry_run": false})
}

// adminAudit lists the audit log: ?actor= &action= &since= &until=
// (RFC 3339) &before= (cursor) &limit=.
func (s *Server) adminAudit(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	q := store.AuditQuery{Actor: c.Query("actor"), Action: c.Query("action"), Before: c.Query("before"), Limit: int(limit)}
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return chat.Invalid(name + " must be an RFC 3339 time")
			}
			*dst = t
		}
	}
	entries, err := s.svc.ListAudit(c.UserContext(), q)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"entries": entries})
}

// adminKeysVerify unwraps every data key with the node's keyring.
func (s *Server) adminKeysVerify(c *fiber.Ctx) error {
	rep, err := s.svc.VerifyKeys(c.UserContext())
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"opened": rep.Opened, "failed": rep.Failed, "failed_ids": rep.FailedIDs})
}

// adminPurgeScoped purges one conversation (?a=&b=) or every
// conversation of a user (?user=), or counts with dry_run=true.
func (s *Server) adminPurgeScoped(c *fiber.Ctx) error {
	dry, err := queryBool(c, "dry_run")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	var convs []*store.Conversation
	switch {
	case c.Query("user") != "" && c.Query("a") == "" && c.Query("b") == "":
		c.Locals(localsAuditTarget, "user "+c.Query("user"))
		if convs, err = s.svc.AdminConversationsOf(ctx, c.Query("user")); err != nil {
			return err
		}
	case c.Query("a") != "" && c.Query("b") != "" && c.Query("user") == "":
		c.Locals(localsAuditTarget, "conversation "+c.Query("a")+" "+c.Query("b"))
		conv, err := s.svc.AdminConversationOf(ctx, c.Query("a"), c.Query("b"))
		if err != nil {
			return err
		}
		convs = []*store.Conversation{conv}
	default:
		return chat.Invalid("name a user (user=) or a conversation's two members (a= and b=)")
	}
	isDry := dry != nil && *dry
	if isDry {
		c.Locals(localsAuditTarget, c.Locals(localsAuditTarget).(string)+" dry-run")
	}
	rep, err := s.svc.AdminPurgeConversations(ctx, convs, isDry)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"conversations": rep.Conversations, "messages": rep.Messages, "files": rep.Files, "dry_run": rep.DryRun})
}

// adminKeysRotate gives every conversation a new data key.
func (s *Server) adminKeysRotate(c *fiber.Ctx) error {
	n, err := s.svc.RotateDataKeys(c.UserContext())
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"rotated": n, "active": s.svc.Keyring().Active()})
}

// adminPurgeOlderThan deletes messages older than ?seconds= (or counts
// them with dry_run=true).
func (s *Server) adminPurgeOlderThan(c *fiber.Ctx) error {
	secs, err := queryInt(c, "seconds")
	if err != nil {
		return err
	}
	if secs <= 0 || secs > 100*365*24*3600 {
		return chat.Invalid("seconds must be a positive age")
	}
	dry, err := queryBool(c, "dry_run")
	if err != nil {
		return err
	}
	isDry := dry != nil && *dry
	target := "older than " + time.Duration(secs*int64(time.Second)).String()
	if isDry {
		target += " dry-run"
	}
	c.Locals(localsAuditTarget, target)
	rep, err := s.svc.PurgeOlderThan(c.UserContext(), time.Now().Add(-time.Duration(secs)*time.Second), isDry)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"conversations": rep.Conversations, "messages": rep.Messages, "files": rep.Files, "dry_run": rep.DryRun})
}
