package gateway

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/crypttalk/crypttalk/pubsub"
)

const hubShards = 32

// hub indexes this node's sessions by user and holds one bus subscription
// per user with at least one session here, whatever the number of devices.
// It is sharded so that connects, disconnects and fan-out of different
// users rarely contend on one lock.
type hub struct {
	g      *Gateway
	shards [hubShards]hubShard
}

type hubShard struct {
	mu    sync.Mutex
	users map[string]*userEntry
}

type userEntry struct {
	sessions map[*Session]struct{}
	sub      pubsub.Subscription
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

// add registers s and subscribes its user's topic if this is the user's
// first session on this node.
func (h *hub) add(ctx context.Context, s *Session) error {
	uid := s.p.User.UserID
	sh := h.shard(uid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.users[uid]
	if e == nil {
		sub, err := h.g.svc.Bus().Subscribe(ctx, pubsub.UserTopic(uid), h.handler(uid))
		if err != nil {
			return err
		}
		e = &userEntry{sessions: make(map[*Session]struct{}), sub: sub}
		sh.users[uid] = e
	}
	e.sessions[s] = struct{}{}
	return nil
}

// remove unregisters s and reports whether it was the user's last session
// on this node.
func (h *hub) remove(s *Session) bool {
	uid := s.p.User.UserID
	sh := h.shard(uid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.users[uid]
	if e == nil {
		return false
	}
	delete(e.sessions, s)
	if len(e.sessions) > 0 {
		return false
	}
	delete(sh.users, uid)
	if err := e.sub.Close(); err != nil {
		h.g.log.Warn("unsubscribe failed", "err", err)
	}
	return true
}

func (h *hub) sessionsOf(uid string) []*Session {
	sh := h.shard(uid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.users[uid]
	if e == nil {
		return nil
	}
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

// handler opens each event of uid's topic once and hands the encoded frame
// to every session of uid on this node.
func (h *hub) handler(uid string) pubsub.Handler {
	return func(_ string, payload []byte) {
		d, err := h.g.svc.OpenEvent(h.g.ctx, uid, payload)
		if err != nil {
			h.g.log.Warn("undeliverable bus event", "err", err)
			return
		}
		sessions := h.sessionsOf(uid)
		if len(sessions) == 0 {
			return
		}
		ev := &delivery{event: d.Event, conv: d.ConversationID, seq: d.Seq, frame: encode(d.Event, d.Data, nil)}
		for _, s := range sessions {
			s.deliver(ev)
		}
		if m := d.Message; m != nil && m.Recipient == uid {
			h.g.opts.Metrics.Delivered(time.Since(m.CreatedAt))
			h.g.rcpt.note(m.ConversationID, m.Recipient, m.Sender, m.Seq)
		}
	}
}
