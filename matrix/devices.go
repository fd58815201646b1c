package matrix

import (
	"crypto/rand"
	"encoding/base64"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
)

// maxDeleteDevices bounds one POST /delete_devices.
const maxDeleteDevices = 100

// mxDevice is the spec's Device object; absent fields are left out.
func mxDevice(d chat.Device) fiber.Map {
	m := fiber.Map{"device_id": d.DeviceID}
	if d.DisplayName != "" {
		m["display_name"] = d.DisplayName
	}
	if d.LastIP != "" {
		m["last_seen_ip"] = d.LastIP
	}
	if !d.LastSeenAt.IsZero() {
		m["last_seen_ts"] = d.LastSeenAt.UnixMilli()
	}
	return m
}

func (h *handler) listDevices(c *fiber.Ctx, p *chat.Principal) error {
	ds, err := h.svc.ListDevices(c.UserContext(), p)
	if err != nil {
		return err
	}
	out := make([]fiber.Map, 0, len(ds))
	for _, d := range ds {
		out = append(out, mxDevice(d))
	}
	return c.JSON(fiber.Map{"devices": out})
}

func (h *handler) getDevice(c *fiber.Ctx, p *chat.Principal) error {
	id, err := param(c, "deviceId")
	if err != nil {
		return err
	}
	d, err := h.svc.GetDevice(c.UserContext(), p, id)
	if err != nil {
		return err
	}
	return c.JSON(mxDevice(*d))
}

// putDevice renames a device; without display_name nothing changes, as
// the spec says.
func (h *handler) putDevice(c *fiber.Ctx, p *chat.Principal) error {
	id, err := param(c, "deviceId")
	if err != nil {
		return err
	}
	var r struct {
		DisplayName *string `json:"display_name"`
	}
	if err := h.decode(c, &r, true); err != nil {
		return err
	}
	if r.DisplayName == nil {
		_, err = h.svc.GetDevice(c.UserContext(), p, id)
	} else {
		_, err = h.svc.RenameDevice(c.UserContext(), p, id, *r.DisplayName)
	}
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{})
}

// uiaAuth is the auth dict of user-interactive authentication; only the
// m.login.password stage is offered.
type uiaAuth struct {
	Type       string `json:"type"`
	Session    string `json:"session"`
	Password   string `json:"password"`
	User       string `json:"user"`
	Identifier *struct {
		Type string `json:"type"`
		User string `json:"user"`
	} `json:"identifier"`
}

// checkUIA answers false after writing the 401 that asks (again) for the
// password stage; wrong passwords say so with M_FORBIDDEN, as the spec's
// examples do. Sessions need no state: the one stage completes the flow.
func (h *handler) checkUIA(c *fiber.Ctx, p *chat.Principal, a *uiaAuth) (bool, error) {
	session := ""
	var errcode, msg string
	if a != nil {
		session = a.Session
		if a.Type != "m.login.password" {
			errcode, msg = "M_UNRECOGNIZED", "only m.login.password is offered"
		} else if !h.namesCaller(p, a) {
			return false, forbidden("the auth names another user")
		} else if err := h.svc.CheckPassword(c.UserContext(), p, a.Password, h.opts.ClientIP(c)); err != nil {
			if chat.AsError(err).Status != 403 {
				return false, err
			}
			errcode, msg = "M_FORBIDDEN", "invalid password"
		} else {
			return true, nil
		}
	}
	if session == "" || len(session) > 128 {
		var b [12]byte
		_, _ = rand.Read(b[:])
		session = base64.RawURLEncoding.EncodeToString(b[:])
	}
	body := fiber.Map{"flows": []fiber.Map{{"stages": []string{"m.login.password"}}}, "params": fiber.Map{}, "session": session}
	if errcode != "" {
		body["errcode"], body["error"] = errcode, msg
	}
	return false, c.Status(fiber.StatusUnauthorized).JSON(body)
}

// namesCaller accepts an auth dict that names no user or the caller (by
// localpart or full user id).
func (h *handler) namesCaller(p *chat.Principal, a *uiaAuth) bool {
	user := a.User
	if a.Identifier != nil {
		if a.Identifier.Type != "" && a.Identifier.Type != "m.id.user" {
			return false
		}
		user = a.Identifier.User
	}
	return user == "" || user == p.User.UserID || strings.EqualFold(user, p.User.Localpart)
}

func (h *handler) deleteDevice(c *fiber.Ctx, p *chat.Principal) error {
	id, err := param(c, "deviceId")
	if err != nil {
		return err
	}
	var r struct {
		Auth *uiaAuth `json:"auth"`
	}
	if err := h.decode(c, &r, true); err != nil {
		return err
	}
	if done, err := h.checkUIA(c, p, r.Auth); !done {
		return err
	}
	if err := h.svc.DeleteDevice(c.UserContext(), p, id); err != nil {
		return err
	}
	return c.JSON(fiber.Map{})
}

// deleteDevices deletes several of the caller's devices; ids the caller
// does not have are skipped, as Synapse does.
func (h *handler) deleteDevices(c *fiber.Ctx, p *chat.Principal) error {
	var r struct {
		Devices []string `json:"devices"`
		Auth    *uiaAuth `json:"auth"`
	}
	if err := h.decode(c, &r, false); err != nil {
		return err
	}
	if len(r.Devices) > maxDeleteDevices {
		return badParam("at most 100 devices per request")
	}
	if done, err := h.checkUIA(c, p, r.Auth); !done {
		return err
	}
	for _, id := range r.Devices {
		if err := h.svc.DeleteDevice(c.UserContext(), p, id); err != nil && chat.AsError(err).Status != 404 {
			return err
		}
	}
	return c.JSON(fiber.Map{})
}
