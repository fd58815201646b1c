package gateway

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/crypttalk/crypttalk/pubsub"
)

const hubShards = 32

// subscribeTimeout bounds one user's bus subscription; the bus has its own
// shorter timeouts, this is the backstop.
const subscribeTimeout = 10 * time.Second

// hub indexes this node's sessions by user and holds one bus subscription
// per user with at least one session here, whatever the number of devices.
// It is sharded so that connects, disconnects and fan-out of different
// users rarely contend on one lock, and no lock is held across a call to
// the bus: a Subscribe that waits for Redis delays only the sessions of
// that user.
type hub struct {
	g      *Gateway
	shards [hubShards]hubShard
}

type hubShard struct {
	mu    sync.Mutex
	users map[string]*userEntry
}

// userEntry is one user's sessions on this node and the bus subscription
// they share. Bus events land in its bounded inbox; an opener worker turns
// them into frames (opening sealed messages may read the store) so that
// the bus's delivery goroutines only ever append to a slice.
type userEntry struct {
	uid      string
	sessions map[*Session]struct{} // guarded by the shard's mu
	ready    chan struct{}         // closed once Subscribe returned
	sub      pubsub.Subscription   // set before ready is closed
	err      error                 // likewise

	mu       sync.Mutex
	inbox    [][]byte
	queued   bool // held by the opener queue or a worker
	overflow bool // events were dropped: the sessions must resync
}

func newHub(g *Gateway) *hub {
	h := &hub{g: g}
	for i := range h.shards {
		h.shards[i].users = make(map[string]*userEntry)
	}
	return h
}

func (h *hub) shard(userID string) *hubShard {
	f := fnv.New32a()
	_, _ = f.Write([]byte(userID))
	return &h.shards[f.Sum32()%hubShards]
}

// add registers s and, if this is the user's first session on this node,
// subscribes its topic. Sessions of the same user that arrive meanwhile
// wait for that one subscription; other users are not held up.
func (h *hub) add(ctx context.Context, s *Session) error {
	uid := s.p.User.UserID
	sh := h.shard(uid)
	sh.mu.Lock()
	e := sh.users[uid]
	first := e == nil
	if first {
		e = &userEntry{uid: uid, sessions: make(map[*Session]struct{}), ready: make(chan struct{})}
		sh.users[uid] = e
	}
	e.sessions[s] = struct{}{}
	s.entry = e
	sh.mu.Unlock()
	if first {
		h.subscribe(sh, e)
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		h.remove(s)
		return ctx.Err()
	}
	if e.err != nil {
		h.remove(s)
		return e.err
	}
	return nil
}

// subscribe runs the bus call for e without any lock held, then publishes
// the result to the sessions waiting on e.ready.
func (h *hub) subscribe(sh *hubShard, e *userEntry) {
	ctx, cancel := context.WithTimeout(h.g.ctx, subscribeTimeout)
	sub, err := h.g.svc.Bus().Subscribe(ctx, pubsub.UserTopic(e.uid), h.handler(e))
	cancel()
	sh.mu.Lock()
	e.sub, e.err = sub, err
	if err != nil && sh.users[e.uid] == e {
		delete(sh.users, e.uid) // the next session tries again
	}
	orphan := err == nil && len(e.sessions) == 0
	close(e.ready)
	sh.mu.Unlock()
	if orphan {
		h.unsubscribe(sub)
	}
}

// remove unregisters s and reports whether it was the user's last session
// on this node (the moment to go offline).
func (h *hub) remove(s *Session) bool {
	e := s.entry
	if e == nil {
		return false
	}
	sh := h.shard(e.uid)
	sh.mu.Lock()
	if _, ok := e.sessions[s]; !ok {
		sh.mu.Unlock()
		return false
	}
	delete(e.sessions, s)
	last := len(e.sessions) == 0
	if last && sh.users[e.uid] == e {
		delete(sh.users, e.uid)
	}
	settled := isClosed(e.ready)
	sub, err := e.sub, e.err
	sh.mu.Unlock()
	if !last || !settled || err != nil {
		// Not settled: subscribe sees the empty entry and unsubscribes.
		return false
	}
	h.unsubscribe(sub)
	return true
}

func (h *hub) unsubscribe(sub pubsub.Subscription) {
	if err := sub.Close(); err != nil {
		h.g.log.Warn("unsubscribe failed", "err", err)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// sessionsOf lists e's sessions now.
func (h *hub) sessionsOf(e *userEntry) []*Session {
	sh := h.shard(e.uid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	out := make([]*Session, 0, len(e.sessions))
	for s := range e.sessions {
		out = append(out, s)
	}
	return out
}

func (h *hub) all() []*Session {
	var out []*Session
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for _, e := range sh.users {
			for s := range e.sessions {
				out = append(out, s)
			}
		}
		sh.mu.Unlock()
	}
	return out
}

func (h *hub) closeWhere(match func(*Session) bool, code int, reason string) {
	for _, s := range h.all() {
		if match(s) {
			s.kill(code, reason)
		}
	}
}

// handler is e's bus handler. It runs on the bus's delivery goroutines,
// shared with other users, so it only appends to e's bounded inbox. When
// the inbox is full the event is dropped and e's sessions resync from the
// store: messages come back, ephemeral events (typing, presence) of that
// moment are lost.
func (h *hub) handler(e *userEntry) pubsub.Handler {
	return func(_ string, payload []byte) {
		e.mu.Lock()
		if len(e.inbox) >= h.g.opts.UserInbox {
			e.overflow = true
		} else {
			e.inbox = append(e.inbox, payload)
		}
		schedule := !e.queued
		e.queued = true
		e.mu.Unlock()
		if schedule {
			h.g.openers.push(e)
		}
	}
}

// drain is an opener worker's turn on e: it opens what e's inbox holds, in
// order, and hands each frame to e's sessions. Only one worker holds e at
// a time, which keeps a user's events in order.
func (h *hub) drain(e *userEntry) {
	e.mu.Lock()
	batch, overflow := e.inbox, e.overflow
	e.inbox, e.overflow = nil, false
	e.mu.Unlock()
	if overflow {
		for _, s := range h.sessionsOf(e) {
			s.requestResync()
		}
	}
	for i, payload := range batch {
		batch[i] = nil
		h.dispatch(e, payload)
	}
	e.mu.Lock()
	more := len(e.inbox) > 0 || e.overflow
	e.queued = more
	e.mu.Unlock()
	if more {
		h.g.openers.push(e) // to the back: a busy user does not starve the others
	}
}

// dispatch opens one event and delivers it to e's sessions.
func (h *hub) dispatch(e *userEntry, payload []byte) {
	var d *delivery
	var msg func()
	h.g.safely("fanout", func() {
		o, err := h.g.svc.OpenEvent(h.g.ctx, e.uid, payload)
		if err != nil {
			h.g.log.Warn("undeliverable bus event", "err", err)
			return
		}
		d = &delivery{event: o.Event, conv: o.ConversationID, seq: o.Seq, frame: encode(o.Event, o.Data, nil)}
		if o.Message != nil {
			d.at = o.Message.CreatedAt
		}
		if m := o.Message; m != nil && m.Recipient == e.uid {
			msg = func() {
				h.g.opts.Metrics.Delivered(time.Since(m.CreatedAt))
				h.g.rcpt.note(m.ConversationID, m.Recipient, m.Sender, m.Seq)
			}
		}
	}, func() {
		// The event cannot be opened: its user's sockets reconnect and
		// get the message from the store with since.
		for _, s := range h.sessionsOf(e) {
			s.kill(CloseInternal, "internal error, reconnect with since")
		}
	})
	if d == nil {
		return
	}
	sessions := h.sessionsOf(e)
	if len(sessions) == 0 {
		return
	}
	for _, s := range sessions {
		h.g.safely("fanout", func() { s.deliver(d) }, func() { s.kill(CloseInternal, "internal error, reconnect with since") })
	}
	if msg != nil {
		msg()
	}
}
