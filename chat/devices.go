package chat

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/crypttalk/crypttalk/store"
)

// Device limits.
const (
	// MaxDeviceName bounds a device's display name, in characters.
	MaxDeviceName = 100
	// maxDeviceID bounds a device id a client chooses (Matrix leaves it
	// open; ids this long are already far past what clients send).
	maxDeviceID = 64
	// seenEvery is how stale a session's last-seen may get: activity is
	// written at most this often per session, not on every request.
	seenEvery = 5 * time.Minute
	// maxSeenCache bounds the sessions this node remembers touching.
	maxSeenCache = 4096
)

// Device is a session as its owner sees it: never the token.
type Device struct {
	DeviceID    string    `json:"device_id"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
	LastSeenAt  time.Time `json:"last_seen_at,omitzero"`
	LastIP      string    `json:"last_ip,omitempty"`
	UserAgent   string    `json:"user_agent,omitempty"`
	// Current marks the device of the token that asked.
	Current bool `json:"current,omitempty"`
}

// DeletedDevices tells the DeviceDeleted hooks which devices of a user
// are gone (their tokens are revoked already).
type DeletedDevices struct {
	UserID    string   // @localpart:server
	AccountID string   // internal user id
	DeviceIDs []string // never empty
}

// DeviceDeletedHook runs after devices were deleted (DeleteDevice, Logout,
// RevokeUser and what calls it: deactivation, password reset): the place
// where per-device state such as E2EE keys and to-device inboxes goes too.
// A failing hook is logged; the devices stay deleted.
type DeviceDeletedHook func(ctx context.Context, d DeletedDevices) error

// devState is the Service's device bookkeeping.
type devState struct {
	mu    sync.Mutex
	seen  map[string]time.Time // token hash -> when this node last wrote its activity
	hooks []DeviceDeletedHook
}

// OnDeviceDeleted registers a hook run after devices are deleted.
func (s *Service) OnDeviceDeleted(h DeviceDeletedHook) {
	s.dev.mu.Lock()
	s.dev.hooks = append(s.dev.hooks, h)
	s.dev.mu.Unlock()
}

func (s *Service) devicesDeleted(ctx context.Context, d DeletedDevices) {
	if len(d.DeviceIDs) == 0 {
		return
	}
	s.dev.mu.Lock()
	hs := slices.Clone(s.dev.hooks)
	s.dev.mu.Unlock()
	for _, h := range hs {
		if err := h(context.WithoutCancel(ctx), d); err != nil {
			s.log.WarnContext(ctx, "device deletion hook failed", "user_id", d.UserID, "devices", len(d.DeviceIDs), "err", err)
		}
	}
}

// claimTouch reports whether this node should write the activity of a
// session now, and remembers that it does.
func (d *devState) claimTouch(hash string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if at, ok := d.seen[hash]; ok && now.Sub(at) < seenEvery {
		return false
	}
	if d.seen == nil {
		d.seen = map[string]time.Time{}
	}
	if len(d.seen) >= maxSeenCache {
		for h, at := range d.seen {
			if now.Sub(at) >= seenEvery {
				delete(d.seen, h)
			}
		}
		if len(d.seen) >= maxSeenCache {
			// Every entry is recent: forgetting them costs at most one
			// more write per session, the loaded LastSeenAt still holds.
			clear(d.seen)
		}
	}
	d.seen[hash] = now
	return true
}

// touch records a session's activity at most every seenEvery. The request
// never waits for more than a short write and never fails because of it.
func (s *Service) touch(ctx context.Context, sess *store.Session, from Client) {
	now := s.now()
	if now.Sub(sess.LastSeenAt) < seenEvery || !s.dev.claimTouch(sess.TokenHash, now) {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := s.store.TouchSession(wctx, sess.TokenHash, now.UTC(), from.IP, clip(from.UserAgent, maxUserAgent))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.WarnContext(ctx, "session activity not recorded", "session", sess.TokenHash[:min(12, len(sess.TokenHash))], "err", err)
	}
}

// maxUserAgent bounds the User-Agent kept per session.
const maxUserAgent = 256

// clip cuts s to at most n bytes on a rune boundary and drops invalid
// UTF-8, so a header cannot grow a record or break its JSON.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Client is what a request tells about its device's whereabouts.
type Client struct {
	IP        string
	UserAgent string
}

// newDeviceID is Matrix style: ten upper-case letters.
func newDeviceID() (string, error) {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	out := make([]byte, 0, 10)
	var b [16]byte
	for len(out) < 10 {
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		for _, c := range b {
			// 234 = 9*26: rejecting above it keeps the letters uniform.
			if c < 234 && len(out) < 10 {
				out = append(out, letters[c%26])
			}
		}
	}
	return string(out), nil
}

// validDeviceID accepts what Matrix clients send: printable ASCII without
// spaces, so the id is safe in paths, logs and tables.
func validDeviceID(id string) error {
	if id == "" || len(id) > maxDeviceID {
		return Invalid("device_id must be 1 to 64 characters")
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return Invalid("device_id may contain only printable ASCII characters without spaces")
		}
	}
	return nil
}

// validDeviceName accepts up to MaxDeviceName characters of valid UTF-8
// without control characters; empty clears the name.
func validDeviceName(name string) error {
	if !utf8.ValidString(name) {
		return Invalid("display_name must be valid UTF-8")
	}
	if utf8.RuneCountInString(name) > MaxDeviceName {
		return Invalid("display_name must be at most 100 characters")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return Invalid("display_name may not contain control characters")
		}
	}
	return nil
}

func deviceView(x *store.Session, current string) Device {
	return Device{
		DeviceID: x.DeviceID, DisplayName: x.DisplayName, CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt,
		LastIP: x.LastIP, UserAgent: x.UserAgent, Current: current != "" && x.DeviceID == current,
	}
}

// ListDevices lists the caller's live devices, oldest first.
func (s *Service) ListDevices(ctx context.Context, p *Principal) ([]Device, error) {
	ss, err := s.store.ListUserSessions(ctx, p.User.ID)
	if err != nil {
		return nil, storeError(err)
	}
	now := s.now()
	out := make([]Device, 0, len(ss))
	for _, x := range ss {
		if now.Before(x.ExpiresAt) {
			out = append(out, deviceView(store.FillDevice(x), p.DeviceID))
		}
	}
	slices.SortFunc(out, func(a, b Device) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.DeviceID, b.DeviceID)
	})
	return out, nil
}

// GetDevice returns one of the caller's devices; another user's device
// id, an expired or an unknown one is 404 alike.
func (s *Service) GetDevice(ctx context.Context, p *Principal, deviceID string) (*Device, error) {
	if deviceID == "" || len(deviceID) > maxDeviceID {
		return nil, NotFound("unknown device")
	}
	x, err := s.store.GetDevice(ctx, p.User.ID, deviceID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.now().Before(x.ExpiresAt)) {
		return nil, NotFound("unknown device")
	}
	if err != nil {
		return nil, storeError(err)
	}
	d := deviceView(x, p.DeviceID)
	return &d, nil
}

// RenameDevice sets the display name of one of the caller's devices.
func (s *Service) RenameDevice(ctx context.Context, p *Principal, deviceID, name string) (*Device, error) {
	if err := validDeviceName(name); err != nil {
		return nil, err
	}
	if _, err := s.GetDevice(ctx, p, deviceID); err != nil {
		return nil, err
	}
	if err := s.store.RenameDevice(ctx, p.User.ID, deviceID, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, NotFound("unknown device")
		}
		return nil, storeError(err)
	}
	return s.GetDevice(ctx, p, deviceID)
}

// DeleteDevice deletes one of the caller's devices: its token stops
// working and its sockets close on every node, and the DeviceDeleted
// hooks run.
func (s *Service) DeleteDevice(ctx context.Context, p *Principal, deviceID string) error {
	if deviceID == "" || len(deviceID) > maxDeviceID {
		return NotFound("unknown device")
	}
	return s.deleteDevice(ctx, p.User, deviceID)
}

func (s *Service) deleteDevice(ctx context.Context, u *store.User, deviceID string) error {
	hashes, err := s.store.DeleteDevice(ctx, u.ID, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return NotFound("unknown device")
	}
	if err != nil {
		return storeError(err)
	}
	s.revokeTokens(ctx, u.ID, hashes)
	s.devicesDeleted(ctx, DeletedDevices{UserID: u.UserID, AccountID: u.ID, DeviceIDs: []string{deviceID}})
	return nil
}

// revokeTokens closes the sockets and long-polls of revoked tokens on
// every node (the store refuses the tokens already).
func (s *Service) revokeTokens(ctx context.Context, userID string, hashes []string) {
	for _, h := range hashes {
		_ = s.publishControl(ctx, Control{Kind: ControlRevokeToken, TokenHash: h, UserID: userID})
	}
}

// CheckPassword confirms the caller's password for an operation that asks
// for it again (Matrix user-interactive auth before deleting a device).
// Wrong passwords count against the login limit of (account, IP), so this
// is no faster a way to guess than login.
func (s *Service) CheckPassword(ctx context.Context, p *Principal, password, clientIP string) error {
	failKey := "login:fail:" + p.User.Localpart + ":" + clientIP
	if err := s.check(ctx, failKey, s.opts.LoginPerUser, s.opts.LoginWindow); err != nil {
		return err
	}
	if len(password) > maxPassword || bcrypt.CompareHashAndPassword(p.User.PasswordHash, prehash(password)) != nil {
		_ = s.allow(ctx, failKey, s.opts.LoginPerUser, s.opts.LoginWindow)
		return Forbidden("incorrect password")
	}
	return nil
}
