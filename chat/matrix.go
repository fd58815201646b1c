package chat

import (
	"context"
	"errors"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/store"
)

// The functions here serve the Matrix client adapter (package matrix),
// which maps rooms onto conversations and has no domain of its own.

// RoomsOf lists the caller's conversations, most recent first.
func (s *Service) RoomsOf(ctx context.Context, p *Principal) ([]*store.Conversation, error) {
	convs, err := s.store.ListConversations(ctx, p.User.UserID)
	if err != nil {
		return nil, storeError(err)
	}
	return convs, nil
}

// RoomOf loads one of the caller's conversations; any other is not found.
func (s *Service) RoomOf(ctx context.Context, p *Principal, convID string) (*store.Conversation, error) {
	return s.conversationOf(ctx, p, convID)
}

// OpenDM creates (or finds) the caller's conversation with peer before
// any message, as a Matrix createRoom does; created tells which.
func (s *Service) OpenDM(ctx context.Context, p *Principal, peer string) (c *store.Conversation, u *store.User, created bool, err error) {
	u, err = s.peerFor(ctx, p, peer)
	if err != nil {
		return nil, nil, false, err
	}
	c, err = s.store.GetConversation(ctx, ConversationID(p.User.UserID, u.UserID))
	if err == nil {
		return c, u, false, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, false, storeError(err)
	}
	// A new conversation puts an invitation in front of someone: it is
	// counted like a message, so a client cannot invite everyone at once.
	if err := s.allow(ctx, "send:user:"+p.User.ID, s.opts.SendPerUser, s.opts.SendWindow); err != nil {
		return nil, nil, false, err
	}
	c, err = s.ensureConversation(ctx, p.User.UserID, u.UserID)
	if err != nil {
		return nil, nil, false, err
	}
	return c, u, true, nil
}

// ErrNoAccountData: the store keeps no account data.
var errNoAccountData = errors.New("chat: the store keeps no account data")

// AccountData reads a user's document of dataType; NotFound if none.
func (s *Service) AccountData(ctx context.Context, userID, dataType string) ([]byte, error) {
	ad, ok := s.store.(store.AccountData)
	if !ok {
		return nil, Unavailable("account data", errNoAccountData)
	}
	b, err := ad.GetAccountData(ctx, userID, dataType)
	if err != nil {
		return nil, storeError(err)
	}
	return b, nil
}

// SetAccountData replaces a user's document of dataType and wakes the
// user's long-polls on every node.
func (s *Service) SetAccountData(ctx context.Context, userID, dataType string, content []byte) error {
	ad, ok := s.store.(store.AccountData)
	if !ok {
		return Unavailable("account data", errNoAccountData)
	}
	if err := ad.PutAccountData(ctx, userID, dataType, content); err != nil {
		return storeError(err)
	}
	s.WakeMatrix(ctx, userID)
	return nil
}

// MatrixTopic carries wake-ups for a user's Matrix /sync that are not
// messages (invites, joins, account data), apart from the WebSocket
// user topic so that sockets never see them.
func MatrixTopic(userID string) string { return pubsub.UserTopic(userID) + ":mx" }

// WakeMatrix wakes the given users' pending Matrix /sync on every node.
func (s *Service) WakeMatrix(ctx context.Context, users ...string) {
	for _, u := range users {
		if err := s.bus.Publish(ctx, MatrixTopic(u), []byte("1")); err != nil {
			s.log.WarnContext(ctx, "matrix wake-up not published; the sync catches up at its timeout", "err", err)
		}
	}
}

// MessageSeq is the seq of message msgID in the caller's conversation
// convID (a Matrix receipt names an event, MarkRead wants a seq).
func (s *Service) MessageSeq(ctx context.Context, p *Principal, convID, msgID string) (int64, error) {
	if _, err := s.conversationOf(ctx, p, convID); err != nil {
		return 0, err
	}
	m, err := s.store.GetMessage(ctx, msgID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.ConversationID != convID) {
		return 0, NotFound("unknown event")
	}
	if err != nil {
		return 0, storeError(err)
	}
	return m.Seq, nil
}
