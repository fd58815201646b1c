package chat

import (
	"context"
	"fmt"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

// MaxTimer is the longest self-destruct timer (4 weeks).
const MaxTimer = 4 * 7 * 24 * time.Hour

// TimerRequest changes a conversation's timer.
type TimerRequest struct {
	Peer    string
	Seconds int64
	Mode    string
}

// SetTimer sets the self-destruct timer of the caller's conversation with
// Peer (creating the conversation if needed). It applies to messages sent
// after the change, is recorded as a system message and both sides get
// timer-changed.
func (s *Service) SetTimer(ctx context.Context, p *Principal, r TimerRequest) (*TimerView, error) {
	r, err := checkTimer(r)
	if err != nil {
		return nil, err
	}
	peer, err := s.peerFor(ctx, p, r.Peer)
	if err != nil {
		return nil, err
	}
	if err := s.enqueueEvent(ctx, FedTimer, p.User.UserID, peer.UserID, timerContent{Seconds: r.Seconds, Mode: r.Mode}); err != nil {
		return nil, err
	}
	v, err := s.setTimer(ctx, p.User.UserID, peer.UserID, r)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// checkTimer validates a timer change and clears the mode of "off".
func checkTimer(r TimerRequest) (TimerRequest, error) {
	if r.Seconds < 0 || r.Seconds > int64(MaxTimer/time.Second) {
		return r, Invalid("seconds must be between 0 (off) and 2419200 (4 weeks)")
	}
	switch {
	case r.Seconds == 0:
		r.Mode = store.TimerOff
	case r.Mode == store.TimerAfterSend || r.Mode == store.TimerAfterRead || r.Mode == store.TimerIdle:
	default:
		return r, Invalid("mode must be after_send, after_read or idle")
	}
	return r, nil
}

// setTimer applies a checked timer change made by from in its conversation
// with to (either may be remote), records it and tells both.
func (s *Service) setTimer(ctx context.Context, from, to string, r TimerRequest) (*TimerView, error) {
	conv, err := s.ensureConversation(ctx, from, to)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetTimer(ctx, conv.ID, r.Seconds, r.Mode, s.now().UTC()); err != nil {
		return nil, storeError(err)
	}
	text := "disappearing messages turned off"
	if r.Seconds > 0 {
		text = fmt.Sprintf("disappearing messages: %s, mode %s", time.Duration(r.Seconds)*time.Second, r.Mode)
	}
	if _, err := s.appendMessage(ctx, newMessage{sender: from, recipient: to, typ: store.TypeSystem, body: sealedBody{Text: text}}); err != nil {
		return nil, AsError(err)
	}
	v := &TimerView{ConversationID: conv.ID, Seconds: r.Seconds, Mode: r.Mode}
	s.publishEvent(ctx, EventTimer, v, from, to)
	return v, nil
}

// DestroyConversation deletes the caller's conversation with peer for both
// sides: messages, files and data keys (crypto-shredding). No undo.
func (s *Service) DestroyConversation(ctx context.Context, p *Principal, peerRef string) (string, error) {
	peer, err := s.peerFor(ctx, p, peerRef)
	if err != nil {
		return "", err
	}
	conv, err := s.conversationOf(ctx, p, ConversationID(p.User.UserID, peer.UserID))
	if err != nil {
		return "", err
	}
	if err := s.enqueueEvent(ctx, FedDelete, p.User.UserID, peer.UserID, deleteContent{Conversation: true}); err != nil {
		return "", err
	}
	return conv.ID, s.destroy(ctx, conv)
}

// destroy removes a conversation with its files and keys, then tells both
// members. Files' own keys go first: once they are gone, the blobs are
// unreadable even if a later step fails.
func (s *Service) destroy(ctx context.Context, c *store.Conversation) error {
	files, err := s.store.ListConversationFiles(ctx, c.ID)
	if err != nil {
		return storeError(err)
	}
	for _, id := range files {
		s.discardFile(ctx, id)
	}
	if err := s.store.DeleteDataKeys(ctx, c.ID); err != nil {
		return storeError(err)
	}
	if err := s.store.DeleteConversation(ctx, c.ID); err != nil {
		return storeError(err)
	}
	s.forgetKeys(ctx, c.ID)
	s.publishEvent(ctx, EventDestroyed, map[string]string{"conversation_id": c.ID}, c.Members...)
	return nil
}
