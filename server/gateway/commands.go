package gateway

import (
	"context"
	"encoding/json"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/internal/jsonx"
)

// command handles one client event and returns the ack data.
type command func(ctx context.Context, s *Session, data json.RawMessage) (any, error)

var commands = map[string]command{
	"add-user":   func(context.Context, *Session, json.RawMessage) (any, error) { return struct{}{}, nil },
	"send-msg":   sendMsg,
	"send-file":  announceFile,
	"send-voice": announceFile,
	"typing":     typing,
	"read":       markRead,
}

// handle dispatches one frame. Errors never close the socket: they are
// answered with an error frame carrying the frame's id. Only a socket that
// overspends its frame budget is closed (4003), whatever the frames are:
// the flood costs its sender, never the users it is aimed at.
func (s *Session) handle(ctx context.Context, b []byte) {
	if !s.budget.spend(s.g.abuse.lim) {
		s.g.log.WarnContext(ctx, "frame budget spent; socket closed", "user_id", s.p.User.UserID)
		s.cut(CloseTooManyFrames, "too many frames, slow down")
		return
	}
	var f Frame
	if err := jsonx.Decode(b, &f, s.g.opts.JSONDepth); err != nil {
		s.enqueue(encodeError(chat.BadJSON(err.Error()), nil))
		return
	}
	switch f.Event {
	case "ping":
		s.enqueue(encode("pong", f.Data, f.ID))
		return
	case "auth":
		s.enqueue(encodeError(chat.Invalid("already authenticated"), f.ID))
		return
	}
	cmd, ok := commands[f.Event]
	if !ok {
		s.enqueue(encodeError(&chat.Error{Status: 400, Code: chat.CodeUnknownEvent, Msg: "unknown event"}, f.ID))
		return
	}
	data, err := cmd(ctx, s, f.Data)
	if err != nil {
		s.enqueue(encodeError(err, f.ID))
		return
	}
	if len(f.ID) > 0 {
		s.enqueue(encode("ack", data, f.ID))
	}
}

// closeWriter is an optional Transport ability: send the close frame
// without closing the socket yet; frames written after it are dropped.
type closeWriter interface {
	WriteClose(code int, reason string) error
}

// cut closes a socket whose client is likely still sending. The close
// frame goes first; then, in the read loop, input is read and discarded
// until the client answers the close or cutLinger passes, so that closing
// does not reset the connection under a close frame the client has not
// read yet.
func (s *Session) cut(code int, reason string) {
	if cw, ok := s.t.(closeWriter); ok && cw.WriteClose(code, reason) == nil {
		// A timer, not a read deadline: a pong from the client would move
		// the deadline, and the client must not keep the socket open.
		timer := time.AfterFunc(cutLinger, func() { s.kill(code, reason) })
		defer timer.Stop()
		for {
			if _, err := s.t.ReadFrame(); err != nil {
				break
			}
		}
	}
	s.kill(code, reason)
}

const cutLinger = time.Second

func sendMsg(ctx context.Context, s *Session, raw json.RawMessage) (any, error) {
	var d sendData
	if err := decodeData(raw, &d, s.g.opts.JSONDepth); err != nil {
		return nil, err
	}
	return s.g.svc.Send(ctx, s.p, chat.SendRequest{From: d.From, To: d.To, Text: d.Msg, TxnID: d.TxnID})
}

func announceFile(ctx context.Context, s *Session, raw json.RawMessage) (any, error) {
	var d fileData
	if err := decodeData(raw, &d, s.g.opts.JSONDepth); err != nil {
		return nil, err
	}
	return s.g.svc.AnnounceFile(ctx, s.p, d.To, d.FileID)
}

func typing(ctx context.Context, s *Session, raw json.RawMessage) (any, error) {
	var d typingData
	if err := decodeData(raw, &d, s.g.opts.JSONDepth); err != nil {
		return nil, err
	}
	peer, shared, err := s.g.svc.Contact(ctx, s.p, d.To)
	if err != nil {
		return nil, err
	}
	// Typing is best-effort: a signal to a stranger, or a repeat that the
	// gate coalesces, is acknowledged and goes nowhere.
	if shared && s.g.abuse.typing.pass(s.p.User.UserID, peer, d.Typing) {
		s.g.svc.NotifyTyping(ctx, s.p, peer, d.Typing)
	}
	return struct{}{}, nil
}

func markRead(ctx context.Context, s *Session, raw json.RawMessage) (any, error) {
	var d readData
	if err := decodeData(raw, &d, s.g.opts.JSONDepth); err != nil {
		return nil, err
	}
	return s.g.svc.MarkRead(ctx, s.p, d.ConversationID, d.Seq)
}
