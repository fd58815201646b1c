// Package matrix is the subset of the Matrix client-server API that
// mautrix-go and matrix-js-sdk need for direct messages: a thin adapter
// that maps rooms onto conversations, events onto messages and /sync onto
// the user's conversations, calling package chat for everything. A room
// is `!<conversation id>:<server>`, a message event `$<message id>`, and a
// Matrix access token is a Crypt-Talk access token.
package matrix

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/internal/jsonx"
	"github.com/crypttalk/crypttalk/store"
)

// Options configure the adapter.
type Options struct {
	// ClientIP names the caller for login rate limits (the server's
	// trusted-proxy rule).
	ClientIP  func(*fiber.Ctx) string
	JSONDepth int
	BodyBytes int64
}

// handler serves the routes; waiters are the pending long-polls, woken
// when a token or user is revoked.
type handler struct {
	svc  *chat.Service
	opts Options

	mu      sync.Mutex
	waiters map[*waiter]struct{}
	gate    typingGate
}

// Mount registers /_matrix/client/ and /.well-known/matrix/client on app.
func Mount(app fiber.Router, svc *chat.Service, opts Options) {
	if opts.JSONDepth <= 0 {
		opts.JSONDepth = 32
	}
	if opts.BodyBytes <= 0 {
		opts.BodyBytes = 64 << 10
	}
	if opts.ClientIP == nil {
		opts.ClientIP = func(c *fiber.Ctx) string { return c.IP() }
	}
	h := &handler{svc: svc, opts: opts, waiters: map[*waiter]struct{}{}}
	svc.OnControl(h.onControl)

	app.Get("/.well-known/matrix/client", cors, h.wellKnown)
	mx := app.Group("/_matrix", cors)
	mx.Get("/client/versions", wrap(h.versions))
	v3 := mx.Group("/client/v3")
	v3.Get("/login", wrap(h.loginFlows))
	v3.Post("/login", wrap(h.login))
	v3.Post("/logout", h.auth(h.logout))
	v3.Get("/account/whoami", h.auth(h.whoami))
	v3.Get("/devices", h.auth(h.listDevices))
	v3.Get("/devices/:deviceId", h.auth(h.getDevice))
	v3.Put("/devices/:deviceId", h.auth(h.putDevice))
	v3.Delete("/devices/:deviceId", h.auth(h.deleteDevice))
	v3.Post("/delete_devices", h.auth(h.deleteDevices))
	v3.Post("/user/:userId/filter", h.auth(h.postFilter))
	v3.Get("/user/:userId/filter/:filterId", h.auth(h.getFilter))
	v3.Get("/user/:userId/account_data/:type", h.auth(h.getAccountData))
	v3.Put("/user/:userId/account_data/:type", h.auth(h.putAccountData))
	v3.Get("/pushrules/", h.auth(h.pushRules))
	v3.Get("/pushrules", h.auth(h.pushRules))
	v3.Get("/capabilities", h.auth(h.capabilities))
	v3.Get("/sync", h.auth(h.sync))
	v3.Post("/createRoom", h.auth(h.createRoom))
	v3.Post("/join/:room", h.auth(h.join))
	v3.Post("/rooms/:room/join", h.auth(h.join))
	v3.Put("/rooms/:room/send/:type/:txn", h.auth(h.send))
	v3.Get("/rooms/:room/messages", h.auth(h.messages))
	v3.Post("/rooms/:room/receipt/:type/:event", h.auth(h.receipt))
	v3.Post("/rooms/:room/read_markers", h.auth(h.readMarkers))
	v3.Put("/rooms/:room/typing/:userId", h.auth(h.typing))
	h.mountKeys(v3) // keys.go: end-to-end encryption
	mx.All("/*", func(c *fiber.Ctx) error {
		return writeErr(c, &mxError{status: 404, code: "M_UNRECOGNIZED", msg: "unrecognized request"})
	})
}

// cors answers every preflight without auth, as the spec's "Web Browser
// Clients" section asks: the token, not the origin, guards these routes.
func cors(c *fiber.Ctx) error {
	c.Set("Access-Control-Allow-Origin", "*")
	c.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
	c.Set("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization")
	if c.Method() == fiber.MethodOptions {
		return c.Status(200).JSON(fiber.Map{})
	}
	return c.Next()
}

// mxError is a Matrix error body.
type mxError struct {
	status  int
	code    string
	msg     string
	retryMS int64
}

func (e *mxError) Error() string { return e.code + ": " + e.msg }

func badParam(msg string) *mxError { return &mxError{status: 400, code: "M_INVALID_PARAM", msg: msg} }

func forbidden(msg string) *mxError { return &mxError{status: 403, code: "M_FORBIDDEN", msg: msg} }

// toMatrix maps chat's errors onto Matrix errcodes.
func toMatrix(err error) *mxError {
	var me *mxError
	if errors.As(err, &me) {
		return me
	}
	e := chat.AsError(err)
	out := &mxError{status: e.Status, msg: e.Msg, code: "M_UNKNOWN"}
	switch {
	case e.Status == 401:
		out.code = "M_UNKNOWN_TOKEN"
	case e.Code == chat.CodeDeactivated:
		out.code = "M_USER_DEACTIVATED"
	case e.Code == chat.CodeE2EERequired:
		out.code = chat.CodeE2EERequired // no M_ code says "encrypt"; clients show the message
	case e.Status == 403:
		out.code = "M_FORBIDDEN"
	case e.Status == 404:
		out.code = "M_NOT_FOUND"
	case e.Status == 429:
		out.code = "M_LIMIT_EXCEEDED"
		out.retryMS = max(1, e.RetryAfter.Milliseconds())
	case e.Code == chat.CodeBadJSON:
		out.code = "M_BAD_JSON"
	case e.Status == 400:
		out.code = "M_INVALID_PARAM"
	case e.Status == 413:
		out.code = "M_TOO_LARGE"
	}
	return out
}

func writeErr(c *fiber.Ctx, err error) error {
	e := toMatrix(err)
	body := fiber.Map{"errcode": e.code, "error": e.msg}
	if e.retryMS > 0 {
		body["retry_after_ms"] = e.retryMS
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(float64(e.retryMS)/1000))))
	}
	return c.Status(e.status).JSON(body)
}

// wrap renders every error as a Matrix body, so the server's own error
// handler (Crypt-Talk's shape) never sees one from these routes.
func wrap(f func(*fiber.Ctx) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := f(c); err != nil {
			return writeErr(c, err)
		}
		return nil
	}
}

type authedFunc func(*fiber.Ctx, *chat.Principal) error

// auth resolves the bearer token (or the deprecated access_token query
// parameter) through chat: same hashing, expiry and revocation.
func (h *handler) auth(f authedFunc) fiber.Handler {
	return wrap(func(c *fiber.Ctx) error {
		p, err := h.svc.AuthenticateFrom(c.UserContext(), token(c), chat.Client{IP: h.opts.ClientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)})
		if err != nil {
			e := toMatrix(err)
			if e.status == 401 && token(c) == "" {
				e.code = "M_MISSING_TOKEN"
			}
			return e
		}
		return f(c, p)
	})
}

func token(c *fiber.Ctx) string {
	a := c.Get(fiber.HeaderAuthorization)
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return c.Query("access_token")
}

// deviceID is the caller's Matrix device: a session is one device, so
// transaction ids are scoped per device.
func deviceID(p *chat.Principal) string {
	if p.DeviceID == "" {
		return store.LegacyDeviceID(p.TokenHash)
	}
	return p.DeviceID
}

// param is a path parameter, percent-decoded: js-sdk encodes `!` `@` `:`
// and mautrix does not, and Fiber hands them over raw.
func param(c *fiber.Ctx, name string) (string, error) {
	v, err := url.PathUnescape(c.Params(name))
	if err != nil {
		return "", badParam("bad percent-encoding in the path")
	}
	return v, nil
}

// decode reads a JSON object body within the limits: M_NOT_JSON when it is
// not JSON at all, M_BAD_JSON when it is JSON of the wrong shape.
func (h *handler) decode(c *fiber.Ctx, v any, emptyOK bool) error {
	b, err := h.body(c)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) == 0 && emptyOK {
		b = []byte("{}")
	}
	if !json.Valid(b) {
		return &mxError{status: 400, code: "M_NOT_JSON", msg: "the body is not JSON"}
	}
	if err := jsonx.Decode(b, v, h.opts.JSONDepth); err != nil {
		return &mxError{status: 400, code: "M_BAD_JSON", msg: err.Error()}
	}
	return nil
}

func (h *handler) body(c *fiber.Ctx) ([]byte, error) {
	tooLarge := &mxError{status: 413, code: "M_TOO_LARGE", msg: "the request body is too large"}
	if cl := c.Request().Header.ContentLength(); cl > 0 && int64(cl) > h.opts.BodyBytes {
		return nil, tooLarge
	}
	var b []byte
	if r := c.Context().RequestBodyStream(); r != nil {
		var err error
		if b, err = io.ReadAll(io.LimitReader(r, h.opts.BodyBytes+1)); err != nil {
			return nil, badParam("could not read the request body")
		}
	} else {
		b = c.Body()
	}
	if int64(len(b)) > h.opts.BodyBytes {
		return nil, tooLarge
	}
	// The server's closeUnread keeps the connection only for bodies read
	// to the end; it looks for this mark.
	c.Locals("body_read", true)
	return b, nil
}

func (h *handler) wellKnown(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"m.homeserver": fiber.Map{"base_url": c.Protocol() + "://" + c.Hostname()}})
}

// versions lists only versions whose client-visible behaviour this subset
// meets: js-sdk turns v1.3+ into assumptions (threads, media) it is not.
func (h *handler) versions(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"versions": []string{"v1.1", "v1.2"}, "unstable_features": fiber.Map{}})
}

func (h *handler) pushRules(c *fiber.Ctx, _ *chat.Principal) error {
	return c.JSON(fiber.Map{"global": fiber.Map{}})
}

func (h *handler) capabilities(c *fiber.Ctx, _ *chat.Principal) error {
	return c.JSON(fiber.Map{"capabilities": fiber.Map{
		"m.change_password": fiber.Map{"enabled": false},
		"m.room_versions":   fiber.Map{"default": "10", "available": fiber.Map{"10": "stable"}},
	}})
}

// waiter is one pending long-poll.
type waiter struct {
	tokenHash, userID string
	wake              chan struct{}
}

func (h *handler) addWaiter(w *waiter) func() {
	h.mu.Lock()
	h.waiters[w] = struct{}{}
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.waiters, w)
		h.mu.Unlock()
	}
}

// onControl ends the long-polls of a revoked token or user at once, so the
// next answer is M_UNKNOWN_TOKEN rather than a sync that outlives logout.
func (h *handler) onControl(ctl chat.Control) {
	if ctl.Kind != chat.ControlRevokeToken && ctl.Kind != chat.ControlRevokeUser {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.waiters {
		if (ctl.TokenHash != "" && w.tokenHash == ctl.TokenHash) || (ctl.Kind == chat.ControlRevokeUser && w.userID == ctl.UserID) {
			poke(w.wake)
		}
	}
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
