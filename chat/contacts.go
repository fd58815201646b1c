package chat

import (
	"context"
	"errors"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

// Contact resolves `to` for an ephemeral signal such as typing and reports
// whether the caller shares a conversation with that user (one of them has
// written to the other, or set a timer). Signals to anyone else are dropped
// by the caller: they would let a stranger push events at any user.
func (s *Service) Contact(ctx context.Context, p *Principal, to string) (peerID string, shared bool, err error) {
	peer, err := s.peerFor(ctx, p, to)
	if err != nil {
		return "", false, err
	}
	c, err := s.store.GetConversation(ctx, ConversationID(p.User.UserID, peer.UserID))
	if errors.Is(err, store.ErrNotFound) {
		return peer.UserID, false, nil
	}
	if err != nil {
		return "", false, storeError(err)
	}
	return peer.UserID, isMember(c, p.User.UserID) && isMember(c, peer.UserID), nil
}

// NotifyTyping publishes a typing signal from p to peerID, a user_id that
// Contact found to be a contact. It does no checks of its own.
func (s *Service) NotifyTyping(ctx context.Context, p *Principal, peerID string, typing bool) {
	s.publishEvent(ctx, EventTyping, map[string]any{"from": p.User.UserID, "typing": typing}, peerID)
	s.sendEphemeral(ctx, FedTyping, p.User.UserID, peerID, map[string]bool{"typing": typing})
}

// TokenExpiry is when the access token behind p stops working, so that a
// socket opened with it can be closed at that moment rather than live on.
func (s *Service) TokenExpiry(ctx context.Context, p *Principal) (time.Time, error) {
	sess, err := s.store.GetSession(ctx, p.TokenHash)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, Unauthorized("missing or invalid access token")
	}
	if err != nil {
		return time.Time{}, storeError(err)
	}
	return sess.ExpiresAt, nil
}
