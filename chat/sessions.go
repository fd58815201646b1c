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
}

// HashToken is the only form in which a token is stored or logged.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s *Service) newSession(ctx context.Context, u *store.User) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Internal(err)
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now().UTC()
	sess := &store.Session{TokenHash: HashToken(tok), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.opts.TokenTTL)}
	if err := s.store.PutSession(ctx, sess); err != nil {
		return "", storeError(err)
	}
	return tok, nil
}

// Authenticate resolves a bearer token to its user. Unknown, expired and
// revoked tokens, and deactivated users, are all 401.
func (s *Service) Authenticate(ctx context.Context, token string) (*Principal, error) {
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
	return &Principal{User: u, TokenHash: h}, nil
}

// Logout revokes one token on every node at once.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	if err := s.store.DeleteSession(ctx, p.TokenHash); err != nil && !errors.Is(err, store.ErrNotFound) {
		return storeError(err)
	}
	return s.publishControl(ctx, Control{Kind: ControlRevokeToken, TokenHash: p.TokenHash, UserID: p.User.ID})
}

// RevokeUser revokes every token of a user on every node.
func (s *Service) RevokeUser(ctx context.Context, userID string) (int, error) {
	n, err := s.store.DeleteUserSessions(ctx, userID)
	if err != nil {
		return 0, storeError(err)
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
