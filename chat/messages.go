package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
	"github.com/crypttalk/crypttalk/wire"
)

// MessageView is the contract's `message`.
type MessageView = wire.Message

// FileView is the `file` of a file or voice message.
type FileView = wire.FileInfo

// sealedBody is the plaintext that is sealed into store.Message.Body: the
// text and, for files, the file's metadata (the filename is content too).
type sealedBody struct {
	Text string    `json:"t"`
	File *FileView `json:"f,omitempty"`
}

// SendRequest is a text message from the caller.
type SendRequest struct {
	From  string // optional; must be the caller
	To    string
	Text  string
	TxnID string
}

const maxTxnID = 128

// Send stores a text message and hands it to the bus. With a TxnID the same
// request from the same user yields the same message, stored once.
func (s *Service) Send(ctx context.Context, p *Principal, r SendRequest) (*MessageView, error) {
	if err := CheckSelf(p, r.From); err != nil {
		return nil, err
	}
	if r.Text == "" {
		return nil, Invalid("message text is required")
	}
	if len(r.Text) > s.opts.MessageBytes {
		return nil, TooLarge("message text is larger than the limit")
	}
	if !utf8.ValidString(r.Text) {
		return nil, Invalid("message text must be UTF-8")
	}
	return s.sendIdempotent(ctx, p, r.To, r.TxnID, store.TypeText, sealedBody{Text: r.Text})
}

// sendIdempotent is the tail that Send and SendEncrypted share: resolve
// the peer, answer a retried txn_id with the stored message, count the
// send against the rate limit, store. A request with the same txn_id from
// the same user yields the same message, stored once.
func (s *Service) sendIdempotent(ctx context.Context, p *Principal, to, txnID, typ string, body sealedBody) (*MessageView, error) {
	if len(txnID) > maxTxnID {
		return nil, Invalid("txn_id is too long")
	}
	peer, err := s.peerFor(ctx, p, to)
	if err != nil {
		return nil, err
	}
	if txnID != "" {
		if v, found, err := s.byTxn(ctx, p, peer, txnID); found || err != nil {
			return v, err
		}
	}
	if err := s.allow(ctx, "send:user:"+p.User.ID, s.opts.SendPerUser, s.opts.SendWindow); err != nil {
		return nil, err
	}
	m, err := s.appendMessage(ctx, newMessage{sender: p.User.UserID, recipient: peer.UserID, typ: typ, body: body, txnID: txnID})
	if errors.Is(err, store.ErrConflict) && txnID != "" {
		// A concurrent request with the same txn_id won the race.
		v, found, err := s.byTxn(ctx, p, peer, txnID)
		if err == nil && !found {
			// The conflict says it is stored, the store cannot show it
			// (deleted since, or a store breaking its contract): never
			// acknowledge a message nobody can read. A retry stores it.
			return nil, Unavailable("the message store", fmt.Errorf("txn_id %q conflicted but names no stored message", txnID))
		}
		return v, err
	}
	if err != nil {
		return nil, AsError(err)
	}
	// The sender's ack is rendered from the body just sealed: opening the
	// stored body again would give the same view for a data-key lookup,
	// an AEAD open and a JSON decode more per message.
	return renderMessage(m, body, p.User.UserID), nil
}

// peerFor resolves a recipient and refuses messages to oneself.
func (s *Service) peerFor(ctx context.Context, p *Principal, to string) (*store.User, error) {
	peer, err := s.ResolveUser(ctx, to)
	if err != nil {
		return nil, err
	}
	if peer.ID == p.User.ID {
		return nil, Invalid("you cannot message yourself")
	}
	return peer, nil
}

// byTxn returns the message an earlier request with txnID created;
// found is false (and the view nil) when there is none.
func (s *Service) byTxn(ctx context.Context, p *Principal, peer *store.User, txnID string) (v *MessageView, found bool, err error) {
	m, err := s.store.GetMessageByTxn(ctx, p.User.UserID, txnID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, storeError(err)
	}
	if m.Recipient != peer.UserID {
		return nil, false, Conflict(CodeConflict, "txn_id was already used for another conversation")
	}
	// A retry publishes again: the first attempt may have stored the
	// message and never published it (a store write that committed after
	// its timeout, a node killed in between), and a socket that stays
	// connected would not see it until a later message exposed the gap.
	// Sessions drop the repeat by seq.
	s.publishMessage(ctx, m)
	v, err = s.viewMessage(ctx, m, p.User.UserID)
	return v, err == nil, err
}

type newMessage struct {
	sender, recipient string
	typ               string
	body              sealedBody
	txnID             string
	fileID            string
}

// appendMessage is the one write path of every message: conversation,
// seq, seal, durable store, then fan-out.
func (s *Service) appendMessage(ctx context.Context, n newMessage) (*store.Message, error) {
	conv, err := s.ensureConversation(ctx, n.sender, n.recipient)
	if err != nil {
		return nil, err
	}
	if err := checkE2EE(conv, n.typ); err != nil { // e2ee.go: no plaintext into an E2EE conversation
		return nil, err
	}
	keyID, dek, err := s.currentKey(ctx, conv.ID)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(n.body)
	if err != nil {
		return nil, Internal(err)
	}
	now := s.now().UTC()
	id := store.NewID()
	if n.txnID != "" {
		// The same id on every retry: the store refuses a second copy by
		// the id alone, in the same write that stores the first.
		id = store.TxnMessageID(n.sender, n.txnID)
	}
	m := &store.Message{
		ID: id, ConversationID: conv.ID, Sender: n.sender, Recipient: n.recipient,
		Type: n.typ, KeyID: keyID, FileID: n.fileID, TxnID: n.txnID, CreatedAt: now,
	}
	applyTimer(m, conv, now)
	if n.typ != store.TypeSystem {
		// Queued in the same commit as the message (store.Message.Outbox).
		m.Outbox = s.remoteServer(n.recipient)
	}
	seal := func(seq int64) ([]byte, error) {
		return vault.Seal(dek, plain, vault.MessageAD(conv.ID, seq, n.sender))
	}
	if err := s.storeMessage(ctx, m, seal); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		return nil, storeError(err)
	}
	s.metrics.MessageStored()
	s.wake(m.Outbox)
	s.publishMessage(ctx, m)
	return m, nil
}

// storeMessage gives m its seq and stores it durably: in one write when
// the backend can, else NextSeq then PutMessage.
func (s *Service) storeMessage(ctx context.Context, m *store.Message, seal func(int64) ([]byte, error)) error {
	if ap, ok := s.store.(store.Appender); ok {
		return ap.AppendMessage(ctx, m, seal)
	}
	seq, err := s.store.NextSeq(ctx, m.ConversationID, m.CreatedAt)
	if err != nil {
		return err
	}
	body, err := seal(seq)
	if err != nil {
		return err
	}
	m.Seq, m.Body = seq, body
	return s.store.PutMessage(ctx, m)
}

// applyTimer stamps a new message with its conversation's timer.
func applyTimer(m *store.Message, c *store.Conversation, now time.Time) {
	if c.TimerSeconds <= 0 {
		return
	}
	switch c.TimerMode {
	case store.TimerAfterSend:
		m.ExpiresAt = now.Add(time.Duration(c.TimerSeconds) * time.Second)
	case store.TimerAfterRead:
		m.TTLAfterRead = c.TimerSeconds
	case store.TimerIdle:
		m.IdleTTL = c.TimerSeconds
	}
}

// viewMessage opens a stored message and renders it for viewer.
func (s *Service) viewMessage(ctx context.Context, m *store.Message, viewer string) (*MessageView, error) {
	dek, err := s.dataKey(ctx, m.KeyID, m.ConversationID)
	if err != nil {
		return nil, err
	}
	plain, err := vault.Open(dek, m.Body, vault.MessageAD(m.ConversationID, m.Seq, m.Sender))
	if err != nil {
		return nil, Internal(err)
	}
	var b sealedBody
	if err := json.Unmarshal(plain, &b); err != nil {
		return nil, Internal(err)
	}
	return renderMessage(m, b, viewer), nil
}

// renderMessage is the view of m, whose opened body is b, for viewer.
func renderMessage(m *store.Message, b sealedBody, viewer string) *MessageView {
	v := &MessageView{
		ID: m.ID, Seq: m.Seq, ConversationID: m.ConversationID, From: m.Sender, To: m.Recipient,
		FromSelf: m.Sender == viewer, Type: m.Type, Message: b.Text, File: b.File, CreatedAt: m.CreatedAt,
	}
	switch {
	case !m.ExpiresAt.IsZero():
		t := m.ExpiresAt
		v.ExpiresAt = &t
	case m.IdleTTL > 0:
		t := m.CreatedAt.Add(time.Duration(m.IdleTTL) * time.Second)
		v.ExpiresAt = &t
	}
	return v
}

// HistoryRequest pages through a conversation.
type HistoryRequest struct {
	From      string
	To        string
	BeforeSeq int64
	AfterSeq  int64
	Limit     int
}

// History returns messages of the caller's conversation with To, oldest
// first. Without a cursor it returns the newest Limit messages.
func (s *Service) History(ctx context.Context, p *Principal, r HistoryRequest) ([]*MessageView, error) {
	if err := CheckSelf(p, r.From); err != nil {
		return nil, err
	}
	if r.BeforeSeq < 0 || r.AfterSeq < 0 || r.Limit < 0 {
		return nil, Invalid("before_seq, after_seq and limit must not be negative")
	}
	if r.Limit == 0 {
		r.Limit = 50
	}
	if r.Limit > s.opts.HistoryMax {
		r.Limit = s.opts.HistoryMax
	}
	peer, err := s.peerFor(ctx, p, r.To)
	if err != nil {
		return nil, err
	}
	convID := ConversationID(p.User.UserID, peer.UserID)
	msgs, err := s.store.ListMessages(ctx, convID, store.MessageRange{AfterSeq: r.AfterSeq, BeforeSeq: r.BeforeSeq, Limit: r.Limit, Now: s.now()})
	if err != nil {
		return nil, storeError(err)
	}
	return s.viewAll(ctx, msgs, p.User.UserID)
}

func (s *Service) viewAll(ctx context.Context, msgs []*store.Message, viewer string) ([]*MessageView, error) {
	out := make([]*MessageView, 0, len(msgs))
	for _, m := range msgs {
		v, err := s.viewMessage(ctx, m, viewer)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Replay calls fn with every message of the caller's conversations after
// the given seq positions, oldest first per conversation. Unknown
// conversations and conversations the caller is not in are skipped.
func (s *Service) Replay(ctx context.Context, p *Principal, since map[string]int64, fn func(*MessageView) error) error {
	for convID, after := range since {
		conv, err := s.store.GetConversation(ctx, convID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return storeError(err)
		}
		if !isMember(conv, p.User.UserID) {
			continue
		}
		if err := s.replayOne(ctx, p, convID, after, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) replayOne(ctx context.Context, p *Principal, convID string, after int64, fn func(*MessageView) error) error {
	const page = 500
	for {
		msgs, err := s.store.ListMessages(ctx, convID, store.MessageRange{AfterSeq: after, Limit: page, Now: s.now()})
		if err != nil {
			return storeError(err)
		}
		views, err := s.viewAll(ctx, msgs, p.User.UserID)
		if err != nil {
			return err
		}
		for _, v := range views {
			if err := fn(v); err != nil {
				return err
			}
			after = v.Seq
		}
		if len(msgs) < page {
			return nil
		}
	}
}
