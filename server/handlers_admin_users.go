package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/store"
)

// queryBool reads an optional true/false filter.
func queryBool(c *fiber.Ctx, name string) (*bool, error) {
	switch c.Query(name) {
	case "":
		return nil, nil
	case "true":
		v := true
		return &v, nil
	case "false":
		v := false
		return &v, nil
	default:
		return nil, chat.Invalid(name + " must be true or false")
	}
}

// adminFindUsers answers a JSON array (the page) and, when there may be
// more, the cursor of the next page in X-Next-After.
func (s *Server) adminFindUsers(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	var f chat.UserFilter
	if f.Deactivated, err = queryBool(c, "deactivated"); err != nil {
		return err
	}
	if f.Admin, err = queryBool(c, "admin"); err != nil {
		return err
	}
	users, next, err := s.svc.AdminFindUsers(c.UserContext(), store.UserQuery{Prefix: c.Query("q"), After: c.Query("after"), Limit: int(limit)}, f)
	if err != nil {
		return err
	}
	if next != "" {
		c.Set("X-Next-After", next)
	}
	return c.JSON(users)
}

func (s *Server) adminShowUser(c *fiber.Ctx) error {
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	sessions, err := s.svc.AdminSessions(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	live := 0
	for _, x := range sessions {
		if !x.Expired {
			live++
		}
	}
	return ok(c, fiber.Map{"user": chat.AdminView(u), "sessions": live})
}

func (s *Server) adminCreateUser(c *fiber.Ctx) error {
	var in struct {
		Username string `json:"username"`
		Email    string `json:"email"`
		Password string `json:"password"`
		Admin    bool   `json:"admin"`
	}
	if err := s.decode(c, &in); err != nil {
		return err
	}
	c.Locals(localsAuditTarget, in.Username)
	u, err := s.svc.AdminCreateUser(c.UserContext(), in.Username, in.Email, in.Password, in.Admin)
	if err != nil {
		return err
	}
	c.Locals(localsAuditTarget, u.UserID)
	c.Status(fiber.StatusCreated)
	return ok(c, fiber.Map{"user": chat.AdminView(u)})
}

func (s *Server) adminResetPassword(c *fiber.Ctx) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := s.decode(c, &in); err != nil {
		return err
	}
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	n, err := s.svc.AdminResetPassword(c.UserContext(), u.ID, in.Password)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"revoked": n})
}

func (s *Server) adminSessions(c *fiber.Ctx) error {
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	sessions, err := s.svc.AdminSessions(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"sessions": sessions})
}

// adminStats counts the store's records and this node's sockets.
func (s *Server) adminStats(c *fiber.Ctx) error {
	n, err := s.svc.AdminCounts(c.UserContext())
	if err != nil {
		return err
	}
	// Every node's sockets, from the node registry: the heartbeats are at
	// most a few seconds old (this node's is fresh).
	ns, err := s.svc.Nodes(c.UserContext(), s.NodeSelf())
	if err != nil {
		return err
	}
	nodes := make([]fiber.Map, 0, len(ns))
	for _, x := range ns {
		nodes = append(nodes, fiber.Map{"id": x.ID, "address": x.Address, "connections": x.Connections, "stale": x.Stale, "self": x.Self})
	}
	return ok(c, fiber.Map{"counts": n, "connections": s.gw.Sessions(), "nodes": nodes})
}

// adminKeysStatus shows the keyring and how many data keys each master
// key version wraps: after a rewrap, a version that wraps none can go.
func (s *Server) adminKeysStatus(c *fiber.Ctx) error {
	n, err := s.svc.AdminCounts(c.UserContext())
	if err != nil {
		return err
	}
	ring := s.svc.Keyring()
	return ok(c, fiber.Map{"active": ring.Active(), "configured": ring.Versions(), "data_keys": n.DataKeys, "file_keys": n.FileKeys})
}

// adminNotice sends a server notice to named users or to everyone.
func (s *Server) adminNotice(c *fiber.Ctx) error {
	var in struct {
		To   []string `json:"to"`
		All  bool     `json:"all"`
		Text string   `json:"text"`
	}
	if err := s.decode(c, &in); err != nil {
		return err
	}
	if len(in.To) > 1000 {
		return chat.Invalid("at most 1000 users at once; use all for everyone")
	}
	target := "all"
	if !in.All {
		target = strings.Join(in.To, ",")
	}
	c.Locals(localsAuditTarget, target)
	rep, err := s.svc.SendNotice(c.UserContext(), in.To, in.All, in.Text)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"sent": rep.Sent, "skipped": rep.Skipped, "failed": rep.Failed})
}

// adminDeleteUser removes a user and everything they wrote; ?purge=true
// is required, so that a bare DELETE cannot erase data by mistake.
func (s *Server) adminDeleteUser(c *fiber.Ctx) error {
	purge, err := queryBool(c, "purge")
	if err != nil {
		return err
	}
	if purge == nil || !*purge {
		return chat.Invalid("deleting a user removes their messages, files and keys: say purge=true (or deactivate instead)")
	}
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	rep, err := s.svc.AdminDeleteUser(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"user_id": rep.UserID, "conversations": rep.Conversations, "sessions": rep.Sessions})
}
