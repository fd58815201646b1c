package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/internal/jsonx"
)

// Session is one authenticated socket.
type Session struct {
	g *Gateway
	t Transport
	p *chat.Principal

	out       *sendQueue
	writing   atomic.Bool
	done      chan struct{}
	closeOnce sync.Once

	mu        sync.Mutex
	replaying bool
	pending   []*delivery
	seen      seenSet
	baseline  map[string]int64

	budget frameBudget // client frames; the read loop's alone
}

// delivery is one event for one user, encoded once for all its sessions.
type delivery struct {
	event string
	conv  string
	seq   int64
	frame []byte
}

// Serve runs a socket from the auth handshake to its end. It returns when
// the socket is closed.
func (g *Gateway) Serve(ctx context.Context, t Transport) {
	authenticated, ok := g.admitPending(t)
	if !ok {
		return
	}
	p, since, err := g.handshake(ctx, t)
	authenticated()
	if err != nil {
		return
	}
	leave, ok := g.admitUser(t, p)
	if !ok {
		return
	}
	defer leave()
	s := &Session{
		g: g, t: t, p: p,
		out:  newSendQueue(g.opts.SendQueue),
		done: make(chan struct{}),
		seen: seenSet{}, replaying: true,
	}
	g.wg.Add(1)
	defer g.wg.Done()
	if err := g.hub.add(ctx, s); err != nil {
		g.log.ErrorContext(ctx, "subscribe failed", "err", err)
		s.kill(CloseInternal, "server busy, try again")
		return
	}
	g.opts.Metrics.Connections(1)
	defer g.disconnect(s)
	defer s.watchExpiry(ctx)()
	wasOffline, err := g.svc.Bus().Presence().Connect(ctx, p.User.UserID)
	if err != nil {
		g.log.WarnContext(ctx, "presence connect failed", "err", err)
	}
	if wasOffline {
		g.svc.PresenceChanged(ctx, p.User, true)
	}
	me := g.svc.Me(ctx, p)
	s.enqueue(encode("ready", readyData{UserView: me, User: me}, nil))
	if err := s.catchUp(ctx, since); err != nil {
		g.log.WarnContext(ctx, "replay failed", "err", err)
		s.kill(CloseInternal, "replay failed, reconnect with since")
		return
	}
	s.readLoop(ctx)
}

type readyData struct {
	chat.UserView
	User chat.UserView `json:"user"`
}

func (g *Gateway) disconnect(s *Session) {
	s.kill(CloseNormal, "")
	g.opts.Metrics.Connections(-1)
	last := g.hub.remove(s)
	if !last {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nowOffline, err := g.svc.Bus().Presence().Disconnect(ctx, s.p.User.UserID)
	if err != nil {
		g.log.Warn("presence disconnect failed", "err", err)
	}
	if nowOffline {
		g.svc.PresenceChanged(ctx, s.p.User, false)
	}
}

// handshake waits for the auth frame. Other frames before it get an error
// and do not extend the deadline.
func (g *Gateway) handshake(ctx context.Context, t Transport) (*chat.Principal, map[string]int64, error) {
	_ = t.SetReadDeadline(time.Now().Add(g.opts.AuthTimeout))
	for {
		b, err := t.ReadFrame()
		if err != nil {
			if isTimeout(err) {
				_ = t.Close(CloseAuthTimeout, "authenticate within the time limit")
			}
			return nil, nil, err
		}
		var f Frame
		if err := jsonx.Decode(b, &f, g.opts.JSONDepth); err != nil {
			_ = t.WriteFrame(encodeError(chat.BadJSON(err.Error()), nil))
			continue
		}
		if f.Event != "auth" {
			_ = t.WriteFrame(encodeError(chat.Unauthorized("send an auth frame first"), f.ID))
			continue
		}
		var a authData
		if err := decodeData(f.Data, &a, g.opts.JSONDepth); err != nil {
			_ = t.WriteFrame(encodeError(err, f.ID))
			continue
		}
		p, err := g.svc.Authenticate(ctx, a.Token)
		if err != nil {
			_ = t.WriteFrame(encodeError(err, f.ID))
			_ = t.Close(CloseUnauthorized, "authentication failed")
			return nil, nil, err
		}
		return p, a.Since, nil
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func decodeData(raw json.RawMessage, v any, depth int) error {
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	if err := jsonx.Decode(raw, v, depth); err != nil {
		return chat.BadJSON("data: " + err.Error())
	}
	return nil
}

func (s *Session) readLoop(ctx context.Context) {
	for {
		_ = s.t.SetReadDeadline(time.Now().Add(2 * s.g.opts.PingInterval))
		b, err := s.t.ReadFrame()
		if err != nil {
			return
		}
		s.handle(ctx, b)
		select {
		case <-s.done:
			return
		default:
		}
	}
}

// flush writes what is queued, in order. It runs only while there is
// something to write (started by kick), so an idle socket costs no writer
// goroutine; a nil frame is a heartbeat ping.
func (s *Session) flush() {
	for {
		for _, b := range s.out.take() {
			var err error
			if b == nil {
				err = s.t.WritePing()
			} else {
				err = s.t.WriteFrame(b)
			}
			if err != nil {
				s.kill(CloseInternal, "write failed")
				s.writing.Store(false)
				return
			}
		}
		s.writing.Store(false)
		// A frame queued after take but before the flag was cleared found
		// the writer still running; pick it up.
		if s.out.empty() || !s.writing.CompareAndSwap(false, true) {
			return
		}
	}
}

// kick starts the writer unless it is running.
func (s *Session) kick() {
	if s.writing.CompareAndSwap(false, true) {
		go s.flush()
	}
}

// ping queues a heartbeat.
func (s *Session) ping() { s.enqueue(nil) }

// enqueue hands a frame to the writer. A full queue means the client does
// not read fast enough: it is cut (4000) rather than stalling fan-out for
// everyone else; it reconnects and resumes with since.
func (s *Session) enqueue(b []byte) {
	select {
	case <-s.done:
		return
	default:
	}
	if !s.out.push(b) {
		s.kill(CloseSlowConsumer, "too slow, reconnect with since")
		return
	}
	s.kick()
}

func (s *Session) kill(code int, reason string) {
	s.closeOnce.Do(func() {
		close(s.done)
		_ = s.t.Close(code, reason)
	})
}

// deliver passes a live event to the socket, or holds it while a replay is
// running so that nothing arrives twice or out of the replay's order.
func (s *Session) deliver(d *delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replaying {
		s.pending = append(s.pending, d)
		return
	}
	if d.seq > 0 && !s.seen.add(d.conv, d.seq) {
		return
	}
	s.enqueue(d.frame)
}
