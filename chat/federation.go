package chat

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crypttalk/crypttalk/store"
)

// Federation event types (docs/FEDERATION.md, "What crosses").
const (
	FedMessage = "ct.message"
	FedTyping  = "ct.typing"
	FedReceipt = "ct.receipt"
	FedTimer   = "ct.timer"
	FedDelete  = "ct.delete"
)

// RemoteEvent is a federation event as chat sees it: signed and checked
// (inbound) or to be signed (outbound) by the federation package.
type RemoteEvent struct {
	EventID        string          `json:"event_id,omitempty"`
	Origin         string          `json:"origin"`
	Type           string          `json:"type"`
	Sender         string          `json:"sender"`
	Recipient      string          `json:"recipient"`
	ConversationID string          `json:"conversation_id"`
	OriginTS       int64           `json:"origin_server_ts"`
	Content        json.RawMessage `json:"content"`
}

// ProfileView is a user's public profile, as /query/profile answers it.
type ProfileView struct {
	UserID      string `json:"user_id"`
	Username    string `json:"username"`
	AvatarImage string `json:"avatar_image,omitempty"`
}

// Outbound is what chat needs from federation. QueryProfile answers a
// *Error with Status 404 when the peer says the user does not exist; any
// other error means the peer could not be asked.
type Outbound interface {
	// Wake tells the sender of destination that its outbox has new items;
	// it never blocks.
	Wake(destination string)
	// Ephemeral sends a best-effort event (typing) that is not queued.
	Ephemeral(ctx context.Context, destination string, ev RemoteEvent)
	QueryProfile(ctx context.Context, userID string) (ProfileView, error)
}

// messageContent is the content of a ct.message event. MessageID is the
// origin's id of the message: the receiver stores the message with it as
// the txn id, so the same message received twice is stored once.
type messageContent struct {
	MsgType   string      `json:"msgtype"`
	Body      string      `json:"body"`
	MessageID string      `json:"message_id"`
	File      *remoteFile `json:"file,omitempty"`
}

type receiptContent struct {
	Kind string `json:"kind"`
	// MessageID is the origin-side id of the newest message the receipt
	// covers (seqs differ between servers; ids do not).
	MessageID string `json:"message_id"`
}

type timerContent struct {
	Seconds int64  `json:"seconds"`
	Mode    string `json:"mode"`
}

type deleteContent struct {
	IDs          []string `json:"ids,omitempty"`
	Conversation bool     `json:"conversation,omitempty"`
}

// Remote profiles are cached in memory: a few minutes when the peer
// answered, briefly when it could not be asked (the user is then shown
// under the localpart and can still be written to; the outbox waits).
const (
	profileTTL       = 10 * time.Minute
	profileFailTTL   = 30 * time.Second
	profileCacheMax  = 10000
	profileQueryTime = 3 * time.Second
	ephemeralTime    = 5 * time.Second
	// A search by another server's user id asks that server, a request to
	// a host the user names: limited per user, so that nobody makes this
	// server query thousands of hosts (or one peer thousands of times).
	remoteSearchPerUser = 30
	remoteSearchWindow  = time.Minute
)

type remoteProfile struct {
	user    *store.User
	expires time.Time
}

// fedState is the federation side of a Service.
type fedState struct {
	mu       sync.Mutex
	out      Outbound
	profiles map[string]remoteProfile
}

// SetOutbound turns federation on: remote user ids resolve, messages to
// them are queued for their server. Call it before serving.
func (s *Service) SetOutbound(o Outbound) {
	s.fed.mu.Lock()
	defer s.fed.mu.Unlock()
	s.fed.out = o
}

func (s *Service) outbound() Outbound {
	s.fed.mu.Lock()
	defer s.fed.mu.Unlock()
	return s.fed.out
}

// serverOf is the server part of a user id, "" when it is not one.
func serverOf(userID string) string {
	if !strings.HasPrefix(userID, "@") {
		return ""
	}
	_, server, ok := strings.Cut(userID[1:], ":")
	if !ok {
		return ""
	}
	return server
}

// remoteServer is the server of userID when it is another server's user
// and federation is on, else "".
func (s *Service) remoteServer(userID string) string {
	srv := serverOf(userID)
	if srv == "" || srv == s.opts.ServerName || s.outbound() == nil {
		return ""
	}
	return srv
}

// resolveRemote returns the (cached) record of another server's user.
func (s *Service) resolveRemote(ctx context.Context, ref, server string) (*store.User, error) {
	out := s.outbound()
	if out == nil {
		return nil, NotFound("unknown user (federation with " + server + " is not configured)")
	}
	local, _, _ := strings.Cut(ref[1:], ":")
	if local == "" || len(local) > 255 || strings.ContainsAny(ref, " \t\r\n\x00/") {
		return nil, Invalid("user ids look like @name:server")
	}
	now := s.now()
	s.fed.mu.Lock()
	p, ok := s.fed.profiles[ref]
	s.fed.mu.Unlock()
	if ok && now.Before(p.expires) {
		if p.user == nil {
			return nil, NotFound("unknown user")
		}
		return p.user, nil
	}
	qctx, cancel := context.WithTimeout(ctx, profileQueryTime)
	prof, err := out.QueryProfile(qctx, ref)
	cancel()
	var u *store.User
	ttl := profileTTL
	switch {
	case err == nil && prof.UserID == ref:
		name := prof.Username
		if name == "" || len(name) > maxUsername || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
			name = local
		}
		u = remoteUser(ref, name, prof.AvatarImage)
	case isNotFound(err):
		// u stays nil: the peer says there is no such user.
	default:
		if err != nil {
			s.log.WarnContext(ctx, "remote profile unavailable", "user", ref, "err", err)
		}
		if ok && p.user != nil {
			u = p.user // keep what we knew
		} else {
			u = remoteUser(ref, local, "")
		}
		ttl = profileFailTTL
	}
	s.fed.mu.Lock()
	if s.fed.profiles == nil || len(s.fed.profiles) >= profileCacheMax {
		s.fed.profiles = make(map[string]remoteProfile)
	}
	s.fed.profiles[ref] = remoteProfile{user: u, expires: now.Add(ttl)}
	s.fed.mu.Unlock()
	if u == nil {
		return nil, NotFound("unknown user")
	}
	return u, nil
}

func remoteUser(userID, name, avatar string) *store.User {
	if len(avatar) > 256<<10 {
		avatar = ""
	}
	return &store.User{ID: userID, UserID: userID, Username: name, Localpart: name, AvatarImage: avatar, AvatarSet: avatar != ""}
}

func isNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == 404
}

// LocalProfile is the public profile of a local user, for /query/profile.
func (s *Service) LocalProfile(ctx context.Context, userID string) (ProfileView, error) {
	if serverOf(userID) != s.opts.ServerName {
		return ProfileView{}, NotFound("unknown user")
	}
	u, err := s.ResolveUser(ctx, userID)
	if err != nil {
		return ProfileView{}, err
	}
	return ProfileView{UserID: u.UserID, Username: u.Username, AvatarImage: u.AvatarImage}, nil
}

// wake tells the sender of dest that there is work.
func (s *Service) wake(dest string) {
	if out := s.outbound(); out != nil && dest != "" {
		out.Wake(dest)
	}
}

// enqueueEvent queues a non-message event for the peer's server.
func (s *Service) enqueueEvent(ctx context.Context, typ, sender, recipient string, content any) error {
	dest := s.remoteServer(recipient)
	if dest == "" {
		return nil
	}
	c, err := json.Marshal(content)
	if err != nil {
		return Internal(err)
	}
	now := s.now().UTC()
	ev := RemoteEvent{Origin: s.opts.ServerName, Type: typ, Sender: sender, Recipient: recipient,
		ConversationID: ConversationID(sender, recipient), OriginTS: now.UnixMilli(), Content: c}
	payload, err := json.Marshal(ev)
	if err != nil {
		return Internal(err)
	}
	item := store.OutboxItem{ID: store.NewID(), Destination: dest, Kind: typ, ConversationID: ev.ConversationID, Payload: payload, CreatedAt: now}
	if err := s.store.EnqueueOutbox(ctx, item); err != nil {
		return storeError(err)
	}
	s.wake(dest)
	return nil
}

// sendEphemeral hands a typing signal to federation without waiting.
func (s *Service) sendEphemeral(ctx context.Context, typ, sender, recipient string, content any) {
	out, dest := s.outbound(), s.remoteServer(recipient)
	if out == nil || dest == "" {
		return
	}
	c, err := json.Marshal(content)
	if err != nil {
		return
	}
	ev := RemoteEvent{Origin: s.opts.ServerName, Type: typ, Sender: sender, Recipient: recipient,
		ConversationID: ConversationID(sender, recipient), OriginTS: s.now().UnixMilli(), Content: c}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ephemeralTime)
		defer cancel()
		out.Ephemeral(ctx, dest, ev)
	}()
}

// Outgoing is the event to send for an outbox item. For a message it opens
// the sealed message; a message deleted meanwhile is NotFound (the sender
// skips the item). The event is the same on every call for one item, so a
// retransmission has the same event id.
func (s *Service) Outgoing(ctx context.Context, item store.OutboxItem) (RemoteEvent, error) {
	if item.Kind != store.OutboxMessage {
		var ev RemoteEvent
		if err := json.Unmarshal(item.Payload, &ev); err != nil {
			return RemoteEvent{}, Internal(err)
		}
		return ev, nil
	}
	m, err := s.store.GetMessage(ctx, item.MessageID)
	if err != nil {
		return RemoteEvent{}, storeError(err)
	}
	v, err := s.viewMessage(ctx, m, m.Sender)
	if err != nil {
		return RemoteEvent{}, err
	}
	mc := messageContent{MsgType: m.Type, Body: v.Message, MessageID: m.ID}
	if v.File != nil {
		if mc.File, err = s.outgoingFile(ctx, m, v.File); err != nil {
			return RemoteEvent{}, err
		}
		mc.Body = v.File.Filename
	}
	c, err := json.Marshal(mc)
	if err != nil {
		return RemoteEvent{}, Internal(err)
	}
	return RemoteEvent{Origin: s.opts.ServerName, Type: FedMessage, Sender: m.Sender, Recipient: m.Recipient,
		ConversationID: m.ConversationID, OriginTS: m.CreatedAt.UnixMilli(), Content: c}, nil
}

// Receive takes an inbound event that federation has verified (signature,
// origin, size) and applies it as the local action it mirrors. Receiving
// the same event twice has the effect of receiving it once.
func (s *Service) Receive(ctx context.Context, ev RemoteEvent) error {
	if ev.Origin == "" || ev.Origin == s.opts.ServerName || serverOf(ev.Sender) != ev.Origin {
		return Forbidden("the sender is not a user of the origin server")
	}
	if serverOf(ev.Recipient) != s.opts.ServerName {
		return Forbidden("the recipient is not a user of this server")
	}
	rcpt, err := s.ResolveUser(ctx, ev.Recipient)
	if err != nil {
		return err
	}
	conv := ConversationID(ev.Sender, rcpt.UserID)
	if ev.ConversationID != "" && ev.ConversationID != conv {
		return Invalid("conversation_id is not the one of sender and recipient")
	}
	switch ev.Type {
	case FedMessage:
		return s.receiveMessage(ctx, ev, rcpt)
	case FedTyping:
		var c struct {
			Typing bool `json:"typing"`
		}
		if err := json.Unmarshal(ev.Content, &c); err != nil {
			return BadJSON("typing content: " + err.Error())
		}
		if _, err := s.store.GetConversation(ctx, conv); err != nil {
			return nil // strangers do not get to push typing at anyone
		}
		s.publishEvent(ctx, EventTyping, map[string]any{"from": ev.Sender, "typing": c.Typing}, rcpt.UserID)
		return nil
	case FedReceipt:
		return s.receiveReceipt(ctx, ev, rcpt, conv)
	case FedTimer:
		return s.receiveTimer(ctx, ev, rcpt)
	case FedDelete:
		return s.receiveDelete(ctx, ev, rcpt, conv)
	default:
		return Invalid("unknown event type " + ev.Type)
	}
}

func (s *Service) receiveMessage(ctx context.Context, ev RemoteEvent, rcpt *store.User) error {
	var c messageContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return BadJSON("message content: " + err.Error())
	}
	if c.MessageID == "" || len(c.MessageID) > maxTxnID {
		return Invalid("message_id is required (at most 128 bytes)")
	}
	switch c.MsgType {
	case store.TypeText:
	case store.TypeFile, store.TypeVoice:
		return s.receiveFile(ctx, ev, rcpt, c)
	default:
		return Invalid("msgtype must be text, file or voice")
	}
	if c.Body == "" {
		return Invalid("message body is required")
	}
	if len(c.Body) > s.opts.MessageBytes {
		return TooLarge("message body is larger than the limit")
	}
	if !utf8.ValidString(c.Body) {
		return Invalid("message body must be UTF-8")
	}
	if _, err := s.store.GetMessageByTxn(ctx, ev.Sender, c.MessageID); err == nil {
		return nil // received before
	} else if !errors.Is(err, store.ErrNotFound) {
		return storeError(err)
	}
	_, err := s.appendMessage(ctx, newMessage{sender: ev.Sender, recipient: rcpt.UserID, typ: store.TypeText, body: sealedBody{Text: c.Body}, txnID: c.MessageID})
	if errors.Is(err, store.ErrConflict) {
		return nil // a concurrent delivery of the same event won
	}
	if err != nil {
		return AsError(err)
	}
	return nil
}

// receiveReceipt applies a receipt of the remote reader for messages that
// our user sent: the receipt names the newest message it covers by our id.
func (s *Service) receiveReceipt(ctx context.Context, ev RemoteEvent, rcpt *store.User, conv string) error {
	var c receiptContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return BadJSON("receipt content: " + err.Error())
	}
	if c.Kind != "read" && c.Kind != "delivered" {
		return Invalid("kind must be read or delivered")
	}
	m, err := s.store.GetMessage(ctx, c.MessageID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (m.ConversationID != conv || m.Sender != rcpt.UserID)) {
		return nil // gone meanwhile (timers), or not ours: nothing to mark
	}
	if err != nil {
		return storeError(err)
	}
	if c.Kind == "delivered" {
		stored, err := s.store.MarkDelivered(ctx, conv, ev.Sender, m.Seq)
		if err != nil {
			return storeError(err)
		}
		if stored == m.Seq {
			s.publishEvent(ctx, EventReceipt, ReceiptView{ConversationID: conv, UserID: ev.Sender, Seq: m.Seq, Kind: "delivered"}, rcpt.UserID)
		}
		return nil
	}
	stored, err := s.store.MarkRead(ctx, conv, ev.Sender, m.Seq)
	if err != nil {
		return storeError(err)
	}
	if err := s.store.SetMessagesExpiry(ctx, conv, ev.Sender, stored, s.now().UTC()); err != nil {
		return storeError(err)
	}
	s.publishEvent(ctx, EventReceipt, ReceiptView{ConversationID: conv, UserID: ev.Sender, Seq: stored, Kind: "read"}, rcpt.UserID)
	return nil
}

func (s *Service) receiveTimer(ctx context.Context, ev RemoteEvent, rcpt *store.User) error {
	var c timerContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return BadJSON("timer content: " + err.Error())
	}
	r, err := checkTimer(TimerRequest{Seconds: c.Seconds, Mode: c.Mode})
	if err != nil {
		return err
	}
	_, err = s.setTimer(ctx, ev.Sender, rcpt.UserID, r)
	return err
}

func (s *Service) receiveDelete(ctx context.Context, ev RemoteEvent, rcpt *store.User, conv string) error {
	var c deleteContent
	if err := json.Unmarshal(ev.Content, &c); err != nil {
		return BadJSON("delete content: " + err.Error())
	}
	if len(c.IDs) > 1000 {
		return Invalid("at most 1000 ids per delete")
	}
	cv, err := s.store.GetConversation(ctx, conv)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return storeError(err)
	}
	if c.Conversation {
		return s.destroy(ctx, cv)
	}
	var ids []string
	for _, id := range c.IDs {
		// Only messages the remote sender wrote, by their origin id.
		m, err := s.store.GetMessageByTxn(ctx, ev.Sender, id)
		if err == nil && m.ConversationID == conv {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if err := s.store.DeleteMessages(ctx, ids); err != nil {
		return storeError(err)
	}
	s.publishEvent(ctx, EventDeleted, map[string]any{"conversation_id": conv, "ids": ids}, rcpt.UserID)
	return nil
}

// federateReceipt tells the remote peer's server that me read (or got) the
// peer's messages up to seq, naming the newest one by its origin id.
func (s *Service) federateReceipt(ctx context.Context, conv, me, peer, kind string, seq int64) {
	if s.remoteServer(peer) == "" {
		return
	}
	msgs, err := s.store.ListMessages(ctx, conv, store.MessageRange{BeforeSeq: seq + 1, Limit: 50, Now: s.now()})
	if err != nil {
		s.log.WarnContext(ctx, "federated receipt skipped", "err", err)
		return
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := msgs[i]; m.Sender == peer && m.TxnID != "" {
			if err := s.enqueueEvent(ctx, FedReceipt, me, peer, receiptContent{Kind: kind, MessageID: m.TxnID}); err != nil {
				s.log.WarnContext(ctx, "federated receipt not queued", "err", err)
			}
			return
		}
	}
}
