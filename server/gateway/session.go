package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"runtime"
	"runtime/debug"
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

	ctx   context.Context // ends with the session or at Shutdown
	entry *userEntry      // set by hub.add

	out       *sendQueue
	writing   atomic.Bool
	done      chan struct{} // closed by kill
	closed    chan struct{} // closed once the transport is closed
	closeOnce sync.Once

	wmu      sync.Mutex // guards wstopped, so kick's Add cannot race finish's Wait
	wstopped bool
	writers  sync.WaitGroup

	mu        sync.Mutex
	replaying bool
	pending   []*delivery
	overflow  bool // pending overflowed: replay again before going live
	seen      seenSet
	baseline  map[string]int64
	since     map[string]int64 // the client's since at auth: it has these
	holes     holeSet          // seqs below the watermark passed over while missing
	rs        resyncState

	budget frameBudget // client frames; the read loop's alone
}

// delivery is one event for one user, encoded once for all its sessions.
type delivery struct {
	event string
	conv  string
	seq   int64
	at    time.Time // a message's creation time: how young a gap before it is
	frame []byte
}

// Serve runs a socket from the auth handshake to its end. It returns when
// the socket is closed and the session's writer has stopped. The session's
// context ends with ctx or at Shutdown. A panic while serving is
// recovered: that socket alone is closed with 1011.
func (g *Gateway) Serve(ctx context.Context, t Transport) {
	if !g.track() {
		_ = t.Close(CloseGoingAway, "server shutting down")
		return
	}
	defer g.sessions.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(g.ctx, cancel)()
	g.safely("session", func() { g.serve(ctx, t) }, func() { _ = t.Close(CloseInternal, "internal error") })
}

func (g *Gateway) serve(ctx context.Context, t Transport) {
	authenticated, ok := g.admitPending(t)
	if !ok {
		return
	}
	hsClosed := make(chan struct{})
	stopHS := context.AfterFunc(ctx, func() {
		defer close(hsClosed)
		_ = t.Close(CloseGoingAway, "server shutting down")
	})
	p, since, err := g.handshake(ctx, t)
	authenticated()
	if !stopHS() {
		// The close already started: wait for it, since nothing may touch
		// the transport once Serve returns (the library recycles the conn).
		<-hsClosed
		return
	}
	if err != nil {
		return
	}
	leave, ok := g.admitUser(t, p)
	if !ok {
		return
	}
	defer leave()
	s := &Session{
		g: g, t: t, p: p, ctx: ctx,
		out:  newSendQueue(g.opts.SendQueue),
		done: make(chan struct{}), closed: make(chan struct{}),
		seen: seenSet{}, holes: holeSet{}, replaying: true, rs: resyncState{running: true},
	}
	defer s.finish()
	defer context.AfterFunc(ctx, func() { s.kill(CloseGoingAway, "server shutting down") })()
	defer s.recoverPanic()
	if err := g.hub.add(ctx, s); err != nil {
		g.log.ErrorContext(ctx, "subscribe failed", "err", err)
		s.kill(CloseInternal, "server busy, try again")
		return
	}
	g.opts.Metrics.Connections(1)
	defer g.disconnect(s)
	defer s.recoverPanic() // before disconnect's normal close
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
		// Checked after the deadline is set: a kill from now on reaches
		// the transport's Close after it, and Close ends the read.
		if s.isDone() {
			return
		}
		b, err := s.t.ReadFrame()
		if err != nil {
			return
		}
		s.handle(ctx, b)
		if s.isDone() {
			return
		}
	}
}

// flush writes what is queued, in order. It runs only while there is
// something to write (started by kick), so an idle socket costs no writer
// goroutine; a nil frame is a heartbeat ping. It stops once the session is
// killed: what is still queued is not worth a write to a closing socket.
func (s *Session) flush() {
	fw, _ := s.t.(FramesWriter)
	if fw != nil {
		// Let the goroutines that are about to queue more for this socket
		// (the ack after a message's own echo, another conversation's
		// event) run first: under load one write then carries them all.
		runtime.Gosched()
	}
	for {
		items := s.out.take()
		for len(items) > 0 && !s.isDone() {
			var err error
			n := 1
			switch {
			case items[0] == nil:
				err = s.t.WritePing()
			case fw != nil:
				for n < len(items) && items[n] != nil {
					n++
				}
				if n == 1 {
					err = s.t.WriteFrame(items[0])
				} else {
					err = fw.WriteFrames(items[:n])
				}
			default:
				err = s.t.WriteFrame(items[0])
			}
			if err != nil {
				s.kill(CloseInternal, "write failed")
				break
			}
			items = items[n:]
		}
		s.writing.Store(false)
		// A frame queued after take but before the flag was cleared found
		// the writer still running; pick it up.
		if s.isDone() || s.out.empty() || !s.writing.CompareAndSwap(false, true) {
			return
		}
	}
}

func (s *Session) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// kick starts the writer unless it is running or the session has ended.
func (s *Session) kick() {
	if !s.writing.CompareAndSwap(false, true) {
		return
	}
	s.wmu.Lock()
	if s.wstopped {
		s.wmu.Unlock()
		return
	}
	s.writers.Add(1)
	s.wmu.Unlock()
	go func() {
		defer s.writers.Done()
		s.g.safely("flush", s.flush, func() { s.kill(CloseInternal, "internal error") })
	}()
}

// ping queues a heartbeat.
func (s *Session) ping() { s.enqueue(nil) }

// enqueue hands a frame to the writer. A full queue means the client does
// not read fast enough: it is cut (4000) rather than stalling fan-out for
// everyone else; it reconnects and resumes with since.
func (s *Session) enqueue(b []byte) {
	if s.isDone() {
		return
	}
	if !s.out.push(b) {
		s.kill(CloseSlowConsumer, "too slow, reconnect with since")
		return
	}
	s.kick()
}

// kill ends the session. It never blocks: the close frame is written and
// the socket closed on a goroutine of its own (closing also unblocks a
// writer stuck on a slow client), so kill is safe under any lock and on
// the fan-out path. finish waits for it.
func (s *Session) kill(code int, reason string) {
	s.closeOnce.Do(func() {
		close(s.done)
		go func() {
			defer close(s.closed)
			_ = s.t.Close(code, reason)
		}()
	})
}

// recoverPanic is deferred by serve: a panic in this session's commands or
// replay closes this socket alone with 1011; the client sees no detail.
func (s *Session) recoverPanic() {
	if v := recover(); v != nil {
		s.g.panicked("session", v, debug.Stack())
		s.kill(CloseInternal, "internal error")
	}
}

// finish waits until the socket is closed and the writer has stopped, so
// that nothing touches the transport after Serve returns.
func (s *Session) finish() {
	s.kill(CloseNormal, "")
	<-s.closed
	s.wmu.Lock()
	s.wstopped = true
	s.wmu.Unlock()
	s.writers.Wait()
}
