package matrix

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
)

func (h *handler) loginFlows(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"flows": []fiber.Map{{"type": "m.login.password"}}})
}

type loginRequest struct {
	Type       string `json:"type"`
	Identifier *struct {
		Type string `json:"type"`
		User string `json:"user"`
	} `json:"identifier"`
	User     string `json:"user"` // deprecated, still sent by js-sdk's loginWithPassword
	Password string `json:"password"`
	DeviceID string `json:"device_id"`
	Display  string `json:"initial_device_display_name"`
}

// login accepts a localpart or a full user id of this server, through
// chat.Login (same rate limits, same timing for unknown users).
func (h *handler) login(c *fiber.Ctx) error {
	var r loginRequest
	if err := h.decode(c, &r, false); err != nil {
		return err
	}
	if r.Type != "m.login.password" {
		return &mxError{status: 400, code: "M_UNKNOWN", msg: "only m.login.password is supported"}
	}
	user := r.User
	if r.Identifier != nil {
		if r.Identifier.Type != "m.id.user" {
			return &mxError{status: 400, code: "M_UNKNOWN", msg: "only m.id.user identifiers are supported"}
		}
		user = r.Identifier.User
	}
	if strings.HasPrefix(user, "@") {
		local, server, _ := strings.Cut(user[1:], ":")
		if server != h.svc.ServerName() {
			return forbidden("invalid username or password")
		}
		user = local
	}
	res, err := h.svc.LoginDevice(c.UserContext(), chat.Credentials{
		Username: user, Password: r.Password, ClientIP: h.opts.ClientIP(c),
		DeviceID: r.DeviceID, DisplayName: r.Display, UserAgent: c.Get(fiber.HeaderUserAgent),
	})
	if err != nil {
		if e := chat.AsError(err); e.Status == 401 {
			return forbidden("invalid username or password")
		}
		return err
	}
	return c.JSON(fiber.Map{"user_id": res.User.UserID, "access_token": res.Token, "device_id": res.DeviceID, "home_server": h.svc.ServerName()})
}

func (h *handler) logout(c *fiber.Ctx, p *chat.Principal) error {
	if err := h.svc.Logout(c.UserContext(), p); err != nil {
		return err
	}
	return c.JSON(fiber.Map{})
}

func (h *handler) whoami(c *fiber.Ctx, p *chat.Principal) error {
	return c.JSON(fiber.Map{"user_id": p.User.UserID, "device_id": deviceID(p)})
}

// self checks that a :userId path parameter names the caller.
func self(c *fiber.Ctx, p *chat.Principal) error {
	id, err := param(c, "userId")
	if err != nil {
		return err
	}
	if id != p.User.UserID {
		return forbidden("you can only act as yourself")
	}
	return nil
}

// maxFilter bounds a filter, whose id is the filter itself (below).
const maxFilter = 2048

// postFilter stores nothing: the filter id is the filter, base64url
// encoded, so it is valid on every node and after restarts. The adapter
// reads only room.timeline.limit of it.
func (h *handler) postFilter(c *fiber.Ctx, p *chat.Principal) error {
	if err := self(c, p); err != nil {
		return err
	}
	var f map[string]any
	if err := h.decode(c, &f, false); err != nil {
		return err
	}
	b, _ := json.Marshal(f)
	if len(b) > maxFilter {
		return &mxError{status: 413, code: "M_TOO_LARGE", msg: "the filter is too large"}
	}
	return c.JSON(fiber.Map{"filter_id": "f" + base64.RawURLEncoding.EncodeToString(b)})
}

func (h *handler) getFilter(c *fiber.Ctx, p *chat.Principal) error {
	if err := self(c, p); err != nil {
		return err
	}
	id, err := param(c, "filterId")
	if err != nil {
		return err
	}
	b, ok := filterJSON(id)
	if !ok {
		return &mxError{status: 404, code: "M_NOT_FOUND", msg: "unknown filter"}
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}

func filterJSON(id string) ([]byte, bool) {
	if !strings.HasPrefix(id, "f") || len(id) > 2*maxFilter {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(id[1:])
	if err != nil || !json.Valid(b) {
		return nil, false
	}
	return b, true
}

// timelineLimit reads room.timeline.limit from a /sync filter given by id
// or inline (js-sdk's first sync); anything else means the default.
func timelineLimit(filter string) int {
	const def, most = 20, 100
	b := []byte(filter)
	if !strings.HasPrefix(filter, "{") {
		var ok bool
		if b, ok = filterJSON(filter); !ok {
			return def
		}
	}
	var f struct {
		Room struct {
			Timeline struct {
				Limit *float64 `json:"limit"`
			} `json:"timeline"`
		} `json:"room"`
	}
	if json.Unmarshal(b, &f) != nil || f.Room.Timeline.Limit == nil {
		return def
	}
	n := int(*f.Room.Timeline.Limit)
	return min(max(n, 1), most)
}

// Account data types the adapter keeps; other types are refused rather
// than stored, so a client cannot use the store as free space.
const (
	typeDirect  = "m.direct"
	typeInvites = "org.crypttalk.dm_invites" // internal, never shown
	maxDirect   = 16 << 10
)

func (h *handler) getAccountData(c *fiber.Ctx, p *chat.Principal) error {
	if err := self(c, p); err != nil {
		return err
	}
	typ, err := param(c, "type")
	if err != nil {
		return err
	}
	if typ != typeDirect {
		return &mxError{status: 404, code: "M_NOT_FOUND", msg: "no account data of this type"}
	}
	b, err := h.svc.AccountData(c.UserContext(), p.User.UserID, typ)
	if err != nil {
		if chat.AsError(err).Status == 404 {
			return &mxError{status: 404, code: "M_NOT_FOUND", msg: "no account data of this type"}
		}
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}

func (h *handler) putAccountData(c *fiber.Ctx, p *chat.Principal) error {
	if err := self(c, p); err != nil {
		return err
	}
	typ, err := param(c, "type")
	if err != nil {
		return err
	}
	if typ != typeDirect {
		return badParam("only m.direct account data is kept")
	}
	var d map[string][]string
	if err := h.decode(c, &d, false); err != nil {
		return err
	}
	b, _ := json.Marshal(d)
	if len(b) > maxDirect {
		return &mxError{status: 413, code: "M_TOO_LARGE", msg: "m.direct is too large"}
	}
	if err := h.svc.SetAccountData(c.UserContext(), p.User.UserID, typ, b); err != nil {
		return err
	}
	return c.JSON(fiber.Map{})
}

// invites is the adapter's record of DM invitations not yet joined: in
// (rooms the user is invited to, by whom) and out (rooms where the peer
// the user invited has not joined yet).
type invites struct {
	In  map[string]string `json:"in"`
	Out map[string]string `json:"out"`
}

func (h *handler) loadInvites(c *fiber.Ctx, userID string) (*invites, error) {
	inv := &invites{In: map[string]string{}, Out: map[string]string{}}
	b, err := h.svc.AccountData(c.UserContext(), userID, typeInvites)
	if err != nil {
		if chat.AsError(err).Status == 404 {
			return inv, nil
		}
		return nil, err
	}
	if err := json.Unmarshal(b, inv); err != nil {
		return nil, errors.New("matrix: corrupt invite record")
	}
	if inv.In == nil {
		inv.In = map[string]string{}
	}
	if inv.Out == nil {
		inv.Out = map[string]string{}
	}
	return inv, nil
}

func (h *handler) saveInvites(c *fiber.Ctx, userID string, inv *invites) error {
	b, _ := json.Marshal(inv)
	return h.svc.SetAccountData(c.UserContext(), userID, typeInvites, b)
}
