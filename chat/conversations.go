package chat

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sort"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/wire"
)

// ConversationID derives a DM's id from the two user_ids alone, so both
// sides (and both servers, with federation) name it the same.
func ConversationID(a, b string) string {
	if b < a {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte("crypttalk-dm\x00" + a + "\x00" + b))
	return "!" + base64.RawURLEncoding.EncodeToString(sum[:18])
}

func isMember(c *store.Conversation, userID string) bool {
	for _, m := range c.Members {
		if m == userID {
			return true
		}
	}
	return false
}

func peerOf(c *store.Conversation, userID string) string {
	for _, m := range c.Members {
		if m != userID {
			return m
		}
	}
	return ""
}

func (s *Service) ensureConversation(ctx context.Context, a, b string) (*store.Conversation, error) {
	members := []string{a, b}
	sort.Strings(members)
	now := s.now().UTC()
	c, err := s.store.EnsureConversation(ctx, &store.Conversation{
		ID: ConversationID(a, b), Members: members, CreatedAt: now, LastMessageAt: now,
	})
	if err != nil {
		return nil, storeError(err)
	}
	return c, nil
}

// conversationOf loads a conversation the caller belongs to; any other
// conversation is "not found" so ids cannot be probed.
func (s *Service) conversationOf(ctx context.Context, p *Principal, convID string) (*store.Conversation, error) {
	c, err := s.store.GetConversation(ctx, convID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !isMember(c, p.User.UserID)) {
		return nil, NotFound("unknown conversation")
	}
	if err != nil {
		return nil, storeError(err)
	}
	return c, nil
}

// TimerView is a conversation's self-destruct timer.
type TimerView = wire.Timer

// ConversationView is one entry of GET /api/conversations.
type ConversationView = wire.Conversation

// Conversations lists the caller's conversations, most recent first, with
// the last message and the unread count.
func (s *Service) Conversations(ctx context.Context, p *Principal) ([]ConversationView, error) {
	me := p.User.UserID
	convs, err := s.store.ListConversations(ctx, me)
	if err != nil {
		return nil, storeError(err)
	}
	peers := make([]string, 0, len(convs))
	for _, c := range convs {
		peers = append(peers, peerOf(c, me))
	}
	online, _ := s.bus.Presence().Online(ctx, peers)
	out := make([]ConversationView, 0, len(convs))
	for _, c := range convs {
		v, err := s.viewConversation(ctx, p, c, online)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out = append(out, *v)
		}
	}
	return out, nil
}

func (s *Service) viewConversation(ctx context.Context, p *Principal, c *store.Conversation, online map[string]bool) (*ConversationView, error) {
	me := p.User.UserID
	peer, err := s.ResolveUser(ctx, peerOf(c, me))
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == 404 {
			return nil, nil // the peer is gone
		}
		return nil, err
	}
	now := s.now()
	last, err := s.store.ListMessages(ctx, c.ID, store.MessageRange{Limit: 1, Now: now})
	if err != nil {
		return nil, storeError(err)
	}
	unread, err := s.store.CountMessages(ctx, c.ID, c.ReadSeq[me], me, now)
	if err != nil {
		return nil, storeError(err)
	}
	v := &ConversationView{
		ConversationID: c.ID, Peer: ViewUser(peer, p.User, online[peer.UserID]), Unread: unread,
		LastSeq: c.LastSeq, ReadSeq: c.ReadSeq[me], Timer: TimerView{Seconds: c.TimerSeconds, Mode: c.TimerMode},
		PeerDeliveredSeq: c.DeliveredSeq[peer.UserID], PeerReadSeq: c.ReadSeq[peer.UserID],
	}
	if len(last) == 1 {
		if v.LastMessage, err = s.viewMessage(ctx, last[0], me); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// ReceiptView is the data of a `receipt` event.
type ReceiptView = wire.Receipt

// MarkRead records that the caller read everything up to seq, starts the
// after_read timers of those messages and tells both sides.
func (s *Service) MarkRead(ctx context.Context, p *Principal, convID string, seq int64) (*ReceiptView, error) {
	if seq <= 0 {
		return nil, Invalid("seq must be positive")
	}
	c, err := s.conversationOf(ctx, p, convID)
	if err != nil {
		return nil, err
	}
	if seq > c.LastSeq {
		seq = c.LastSeq
	}
	me := p.User.UserID
	stored, err := s.store.MarkRead(ctx, convID, me, seq)
	if err != nil {
		return nil, storeError(err)
	}
	if err := s.store.SetMessagesExpiry(ctx, convID, me, stored, s.now().UTC()); err != nil {
		return nil, storeError(err)
	}
	r := &ReceiptView{ConversationID: convID, UserID: me, Seq: stored, Kind: "read"}
	s.publishEvent(ctx, EventReceipt, r, me, peerOf(c, me))
	s.federateReceipt(ctx, convID, me, peerOf(c, me), "read", stored)
	return r, nil
}

// MarkDelivered records that one of recipient's devices received the
// message with seq and tells the sender. The gateway calls it, coalesced.
func (s *Service) MarkDelivered(ctx context.Context, convID, recipient, sender string, seq int64) error {
	stored, err := s.store.MarkDelivered(ctx, convID, recipient, seq)
	if err != nil {
		return storeError(err)
	}
	if stored == seq {
		s.publishEvent(ctx, EventReceipt, ReceiptView{ConversationID: convID, UserID: recipient, Seq: seq, Kind: "delivered"}, sender)
		s.federateReceipt(ctx, convID, recipient, sender, "delivered", seq)
	}
	return nil
}

// PresenceChanged tells everyone who shares a conversation with u that u
// came online or went offline.
func (s *Service) PresenceChanged(ctx context.Context, u *store.User, online bool) {
	convs, err := s.store.ListConversations(ctx, u.UserID)
	if err != nil {
		s.log.WarnContext(ctx, "presence fan-out skipped", "err", err)
		return
	}
	ev := EventDisconnected
	if online {
		ev = EventConnected
	}
	contacts := make([]string, 0, len(convs))
	for _, c := range convs {
		contacts = append(contacts, peerOf(c, u.UserID))
	}
	s.publishEvent(ctx, ev, map[string]string{"user_id": u.UserID}, contacts...)
}

// Positions returns the highest seq of each of the caller's conversations.
func (s *Service) Positions(ctx context.Context, p *Principal) (map[string]int64, error) {
	convs, err := s.store.ListConversations(ctx, p.User.UserID)
	if err != nil {
		return nil, storeError(err)
	}
	out := make(map[string]int64, len(convs))
	for _, c := range convs {
		out[c.ID] = c.LastSeq
	}
	return out, nil
}
