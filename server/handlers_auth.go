package server

import (
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
)

// avatarBodyBytes is the one JSON body above the JSON limit: an avatar at
// its size limit, base64-encoded in a data URL.
const avatarBodyBytes = chat.MaxAvatarBytes*4/3 + 4<<10

type credentialsBody struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password"`
	// Optional: the device to log in on (a known one gets a new token)
	// and a name for a new one.
	DeviceID   string `json:"device_id"`
	DeviceName string `json:"device_name"`
}

func (s *Server) credentials(c *fiber.Ctx, b credentialsBody) chat.Credentials {
	return chat.Credentials{
		Username: b.Username, Email: b.Email, Password: b.Password, ClientIP: s.clientIP(c),
		DeviceID: b.DeviceID, DisplayName: b.DeviceName, UserAgent: c.Get(fiber.HeaderUserAgent),
	}
}

func (s *Server) register(c *fiber.Ctx) error {
	var b credentialsBody
	if err := s.decode(c, &b); err != nil {
		return err
	}
	r, err := s.svc.RegisterDevice(c.UserContext(), s.credentials(c, b))
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"user": chat.ViewUser(r.User, r.User, false), "token": r.Token, "device_id": r.DeviceID})
}

func (s *Server) login(c *fiber.Ctx) error {
	var b credentialsBody
	if err := s.decode(c, &b); err != nil {
		return err
	}
	r, err := s.svc.LoginDevice(c.UserContext(), s.credentials(c, b))
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"user": chat.ViewUser(r.User, r.User, false), "token": r.Token, "device_id": r.DeviceID})
}

func (s *Server) logout(c *fiber.Ctx) error {
	if err := s.svc.Logout(c.UserContext(), principal(c)); err != nil {
		return err
	}
	return ok(c, fiber.Map{})
}

func (s *Server) me(c *fiber.Ctx) error {
	p := principal(c)
	return ok(c, fiber.Map{"user": s.svc.Me(c.UserContext(), p), "device_id": p.DeviceID})
}

func (s *Server) setAvatar(c *fiber.Ctx) error {
	var b struct {
		Image string `json:"image"`
	}
	if err := s.decodeWithin(c, &b, avatarBodyBytes); err != nil {
		return err
	}
	img, err := s.svc.SetAvatar(c.UserContext(), principal(c), param(c, "userId"), b.Image)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"isSet": true, "image": img})
}

func (s *Server) allUsers(c *fiber.Ctx) error {
	p := principal(c)
	if err := chat.CheckSelf(p, param(c, "userId")); err != nil {
		return err
	}
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	users, err := s.svc.ListUsers(c.UserContext(), p, chat.UserList{Query: c.Query("q"), After: c.Query("after"), Limit: int(limit)})
	if err != nil {
		return err
	}
	return c.JSON(users)
}

// param returns a percent-decoded path parameter, so that
// /conversations/%40bob%3Ab.example and /conversations/@bob:b.example agree.
func param(c *fiber.Ctx, name string) string {
	v := c.Params(name)
	if d, err := url.PathUnescape(v); err == nil {
		return d
	}
	return v
}

func queryInt(c *fiber.Ctx, name string) (int64, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, chat.Invalid(name + " must be a non-negative integer")
	}
	return n, nil
}
