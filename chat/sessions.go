package chat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/store"
)

// Principal is an authenticated caller.
type Principal struct {
	User      *store.User
	TokenHash string
	// DeviceID is the device of the token (one token per device).
	DeviceID string
}

// HashToken is the only form in which a token is stored or logged.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// newSession opens a session on the device c names, or on a new device.
// A device the user already has keeps its id (and, for the hooks, its
// keys) but gets a new token: the old one stops working, as in Matrix.
func (s *Service) newSession(ctx context.Context, u *store.User, c Credentials) (tok, deviceID string, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", Internal(err)
	}
	tok = base64.RawURLEncoding.EncodeToString(raw[:])
	deviceID = c.DeviceID
	name := c.DisplayName
	var replaced []string
	if deviceID == "" {
		if deviceID, err = newDeviceID(); err != nil {
			return "", "", Internal(err)
		}
	} else {
		old, gerr := s.store.GetDevice(ctx, u.ID, deviceID)
		if gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
			return "", "", storeError(gerr)
		}
		if old != nil {
			if name == "" {
				name = old.DisplayName
			}
			// Removed before the new token exists, so that a failed
			// login cannot leave the device with two tokens.
			if replaced, err = s.store.DeleteDevice(ctx, u.ID, deviceID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return "", "", storeError(err)
			}
		}
	}
	now := s.now().UTC()
	sess := &store.Session{
		TokenHash: HashToken(tok), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.opts.TokenTTL),
		DeviceID: deviceID, DisplayName: name, LastSeenAt: now, LastIP: c.ClientIP, UserAgent: clip(c.UserAgent, maxUserAgent),
	}
	if err := s.store.PutSession(ctx, sess); err != nil {
		return "", "", storeError(err)
	}
	s.revokeTokens(ctx, u.ID, replaced)
	return tok, deviceID, nil
}

// Authenticate resolves a bearer token to its user. Unknown, expired and
// revoked tokens, and deactivated users, are all 401.
func (s *Service) Authenticate(ctx context.Context, token string) (*Principal, error) {
	return s.AuthenticateFrom(ctx, token, Client{})
}

// AuthenticateFrom is Authenticate that also records, every few minutes,
// when and from where the token's device was last seen.
func (s *Service) AuthenticateFrom(ctx context.Context, token string, from Client) (*Principal, error) {
	if token == "" || len(token) > 256 {
		return nil, Unauthorized("missing or invalid access token")
	}
	// No cache: every check asks the store, so a logout or revocation on
	// any node holds everywhere at once, even while the bus is away.
	h := HashToken(token)
	sess, err := s.store.GetSession(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Unauthorized("missing or invalid access token")
	}
	if err != nil {
		return nil, storeError(err)
	}
	if !s.now().Before(sess.ExpiresAt) {
		return nil, Unauthorized("access token expired")
	}
	u, err := s.store.GetUser(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Unauthorized("missing or invalid access token")
	}
	if err != nil {
		return nil, storeError(err)
	}
	if u.Deactivated {
		return nil, Unauthorized("this account is deactivated")
	}
	s.touch(ctx, sess, from)
	return &Principal{User: u, TokenHash: h, DeviceID: store.FillDevice(sess).DeviceID}, nil
}

// Logout revokes the token and deletes its device, on every node at once.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	if p.DeviceID != "" {
		err := s.deleteDevice(ctx, p.User, p.DeviceID)
		if e := AsError(err); err == nil || e.Status != 404 {
			return err
		}
	}
	// A device gone already (a concurrent delete): the token may still be.
	if err := s.store.DeleteSession(ctx, p.TokenHash); err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeError(err)
	}
	return s.publishControl(ctx, Control{Kind: ControlRevokeToken, TokenHash: p.TokenHash, UserID: p.User.ID})
}

// RevokeUser revokes every token of a user on every node; the user's
// devices are deleted with them.
func (s *Service) RevokeUser(ctx context.Context, userID string) (int, error) {
	// Listed first for the hooks: a listing that fails must not keep the
	// tokens alive, so it only costs the hooks their device ids.
	ss, lerr := s.store.ListUserSessions(ctx, userID)
	n, err := s.store.DeleteUserSessions(ctx, userID)
	if err != nil {
		return 0, storeError(err)
	}
	if lerr != nil {
		s.log.WarnContext(ctx, "devices of a revoked user not listed for the hooks", "err", lerr)
	}
	d := DeletedDevices{AccountID: userID}
	for _, x := range ss {
		d.DeviceIDs = append(d.DeviceIDs, store.FillDevice(x).DeviceID)
	}
	if len(d.DeviceIDs) > 0 {
		if u, err := s.store.GetUser(ctx, userID); err == nil {
			d.UserID = u.UserID
		}
		s.devicesDeleted(ctx, d)
	}
	return n, s.publishControl(ctx, Control{Kind: ControlRevokeUser, UserID: userID})
}

// SetDeactivated (de)activates an account; deactivation also revokes every
// session.
func (s *Service) SetDeactivated(ctx context.Context, userID string, deactivated bool) (*store.User, error) {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return nil, storeError(err)
	}
	u.Deactivated = deactivated
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return nil, storeError(err)
	}
	if deactivated {
		if _, err := s.RevokeUser(ctx, userID); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// Control kinds on the cluster's control topic.
const (
	ControlRevokeToken = "revoke-token"
	ControlRevokeUser  = "revoke-user"
	ControlForgetKeys  = "forget-keys"
)

// Control is a cluster-wide control event. It never carries a token, only
// its hash.
type Control struct {
	Kind      string `json:"kind"`
	TokenHash string `json:"token_hash,omitempty"`
	UserID    string `json:"user_id,omitempty"` // internal id
	Owner     string `json:"owner,omitempty"`   // data key owner for forget-keys
}

// ControlListener is told about control events after the service applied
// them (the gateway closes revoked sockets).
type ControlListener func(Control)

func (s *Service) publishControl(ctx context.Context, c Control) error {
	s.applyControl(c) // this node at once, even if the bus is down
	b, _ := json.Marshal(c)
	if err := s.bus.Publish(ctx, pubsub.TopicControl, b); err != nil {
		// The store already refuses the token everywhere; only other
		// nodes' open sockets stay up until the bus is back.
		s.log.WarnContext(ctx, "control event not published", "kind", c.Kind, "err", err)
	}
	return nil
}

func (s *Service) onControl(_ string, payload []byte) {
	var c Control
	if json.Unmarshal(payload, &c) != nil {
		return
	}
	s.applyControl(c)
}

func (s *Service) applyControl(c Control) {
	if c.Kind == ControlForgetKeys {
		s.keys.forgetOwner(c.Owner)
	}
	s.controlMu.RLock()
	ls := s.controlListeners
	s.controlMu.RUnlock()
	for _, l := range ls {
		l(c)
	}
}

// OnControl registers a listener for control events.
func (s *Service) OnControl(l ControlListener) {
	s.controlMu.Lock()
	s.controlListeners = append(s.controlListeners, l)
	s.controlMu.Unlock()
}
