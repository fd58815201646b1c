package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

// ToDeviceEvent is one to-device message as /sync hands it out.
type ToDeviceEvent struct {
	Sender  string          `json:"sender"`
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}

// SendToDevice relays opaque messages {user: {device or "*": content}}
// of type typ. A retry of txnID by the same device stores nothing twice.
// A full inbox is refused (429) after the other targets got theirs, so
// the retry the client makes completes it.
func (s *Service) SendToDevice(ctx context.Context, p *Principal, typ, txnID string, msgs map[string]map[string]json.RawMessage) error {
	k, err := s.e2ee()
	if err != nil {
		return err
	}
	if typ == "" || len(typ) > maxToDeviceType || txnID == "" || len(txnID) > maxTxnID {
		return Invalid("the event type and transaction id must be 1 to 128 bytes")
	}
	n := 0
	for _, devs := range msgs {
		n += len(devs)
	}
	if n > maxToDeviceTargets {
		return TooLarge("too many to-device targets in one request")
	}
	if err := s.allow(ctx, "todevice:user:"+p.User.ID, s.opts.SendPerUser, s.opts.SendWindow); err != nil {
		return err
	}
	me, dev, now := p.User.UserID, deviceOf(p), s.now().UTC()
	var full []string
	var woken []string
	for user, devs := range msgs {
		if !strings.HasSuffix(user, ":"+s.opts.ServerName) {
			// Federation carries no to-device messages yet: dropped, as
			// Matrix servers drop messages to unknown devices.
			continue
		}
		targets := map[string]json.RawMessage{}
		for d, content := range devs {
			if len(content) > maxToDeviceBytes {
				return TooLarge("a to-device message is larger than the limit")
			}
			if len(content) == 0 || content[0] != '{' || !utf8.Valid(content) {
				return Invalid("a to-device message is a JSON object in UTF-8")
			}
			if d != "*" {
				targets[d] = content
				continue
			}
			all, err := k.ListDeviceKeys(ctx, user)
			if err != nil {
				return storeError(err)
			}
			for _, x := range all {
				if _, set := devs[x.DeviceID]; !set {
					targets[x.DeviceID] = content
				}
			}
		}
		for d, content := range targets {
			if d == "" || strings.IndexByte(d, 0) >= 0 {
				continue
			}
			m := &store.ToDeviceMessage{
				ID: store.ToDeviceID(me, dev, txnID, user, d), UserID: user, DeviceID: d, Sender: me, SenderDevice: dev,
				Type: typ, CreatedAt: now,
			}
			if err := s.sealToDevice(ctx, m, content); err != nil {
				return err
			}
			err := k.PutToDevice(ctx, m, InboxMax)
			if errors.Is(err, store.ErrInboxFull) {
				full = append(full, user+" "+d)
				continue
			}
			if err != nil {
				return storeError(err)
			}
		}
		woken = append(woken, user)
	}
	s.WakeMatrix(ctx, woken...)
	if len(full) > 0 {
		e := newErr(http.StatusTooManyRequests, CodeRateLimited, fmt.Sprintf("the to-device inbox of %d device(s) is full (%d undelivered messages)", len(full), InboxMax))
		e.RetryAfter = 10 * time.Second
		return e
	}
	return nil
}

// TakeToDevice acknowledges the batch the caller's device came back
// from (acked, from its sync token) and hands out the next: at least once,
// deleted only once acknowledged. batch is the number to put in the
// next token (acked when nothing was handed out).
func (s *Service) TakeToDevice(ctx context.Context, p *Principal, acked int64) ([]ToDeviceEvent, int64, error) {
	k, err := s.e2ee()
	if err != nil {
		return nil, acked, err
	}
	// Batches grow along a device's chain of tokens; the clock keeps them
	// apart from a token the client dropped.
	batch := max(s.now().UnixMilli(), acked+1)
	msgs, err := k.TakeToDevice(ctx, p.User.UserID, deviceOf(p), acked, batch, toDeviceBatch)
	if err != nil {
		return nil, acked, storeError(err)
	}
	if len(msgs) == 0 {
		return nil, acked, nil
	}
	out := make([]ToDeviceEvent, 0, len(msgs))
	for _, m := range msgs {
		content, err := s.openToDevice(ctx, m)
		if err != nil {
			return nil, acked, err
		}
		out = append(out, ToDeviceEvent{Sender: m.Sender, Type: m.Type, Content: content})
	}
	return out, batch, nil
}

// To-device contents are sealed at rest like message bodies, under a data
// key of the recipient user: most are Olm ciphertext already, but
// verification requests and key requests carry metadata in clear. The
// stored content is the key id, NUL, then the sealed bytes.
func toDeviceOwner(userID string) string { return "todevice:" + userID }

func toDeviceAD(m *store.ToDeviceMessage) []byte {
	return []byte("ct-todevice\x00" + m.ID + "\x00" + m.UserID + "\x00" + m.DeviceID + "\x00" + m.Sender + "\x00" + m.Type)
}

func (s *Service) sealToDevice(ctx context.Context, m *store.ToDeviceMessage, content []byte) error {
	keyID, dek, err := s.currentKey(ctx, toDeviceOwner(m.UserID))
	if err != nil {
		return err
	}
	sealed, err := vault.Seal(dek, content, toDeviceAD(m))
	if err != nil {
		return Internal(err)
	}
	m.Content = append(append([]byte(keyID), 0), sealed...)
	return nil
}

func (s *Service) openToDevice(ctx context.Context, m *store.ToDeviceMessage) ([]byte, error) {
	keyID, sealed, ok := bytes.Cut(m.Content, []byte{0})
	if !ok {
		return nil, Internal(fmt.Errorf("to-device message %s is not sealed", m.ID))
	}
	dek, err := s.dataKey(ctx, string(keyID), toDeviceOwner(m.UserID))
	if err != nil {
		return nil, err
	}
	plain, err := vault.Open(dek, sealed, toDeviceAD(m))
	if err != nil {
		return nil, Internal(err)
	}
	return plain, nil
}

// EnableE2EE turns end-to-end encryption on in the caller's conversation
// convID, for good; a conversation that has it already is left as is.
// A system message records it (the Matrix adapter shows m.room.encryption).
func (s *Service) EnableE2EE(ctx context.Context, p *Principal, convID, algorithm string) error {
	if algorithm != MegolmAlgorithm {
		return Invalid("the only end-to-end algorithm is " + MegolmAlgorithm)
	}
	k, err := s.e2ee()
	if err != nil {
		return err
	}
	conv, err := s.conversationOf(ctx, p, convID)
	if err != nil {
		return err
	}
	if conv.E2EE {
		return nil
	}
	if err := k.SetConversationE2EE(ctx, conv.ID); err != nil {
		return storeError(err)
	}
	peer := ""
	for _, m := range conv.Members {
		if m != p.User.UserID {
			peer = m
		}
	}
	if _, err := s.appendMessage(ctx, newMessage{sender: p.User.UserID, recipient: peer, typ: store.TypeSystem, body: sealedBody{Text: E2EEOnText}}); err != nil {
		return AsError(err)
	}
	return nil
}

// EncryptedRequest is an m.room.encrypted event from the caller.
type EncryptedRequest struct {
	To      string
	Content json.RawMessage
	TxnID   string
}

// SendEncrypted stores a client-encrypted event: the server checks only
// its envelope and size; the content is sealed at rest as it came.
func (s *Service) SendEncrypted(ctx context.Context, p *Principal, r EncryptedRequest) (*MessageView, error) {
	if len(r.Content) > EncryptedBytes {
		return nil, TooLarge("the encrypted event is larger than the limit")
	}
	var env struct {
		Algorithm  string          `json:"algorithm"`
		Ciphertext json.RawMessage `json:"ciphertext"`
	}
	if json.Unmarshal(r.Content, &env) != nil || env.Algorithm == "" || len(env.Ciphertext) == 0 {
		return nil, Invalid("an encrypted event needs algorithm and ciphertext")
	}
	if !utf8.Valid(r.Content) {
		return nil, Invalid("an encrypted event must be UTF-8")
	}
	return s.sendIdempotent(ctx, p, r.To, r.TxnID, store.TypeEncrypted, sealedBody{Text: string(r.Content)})
}
