package gateway

import (
	"context"
	"time"

	"github.com/crypttalk/crypttalk/chat"
)

// seenWindow is how many recent seqs per conversation a session remembers
// to drop duplicates between replay and live delivery. Seqs of one
// conversation may commit slightly out of order (two senders), so a set
// of recent ones, not just the highest, decides.
const seenWindow = 64

type seenSet map[string]*seenRing

type seenRing struct {
	max    int64
	recent [seenWindow]int64
	next   int
}

// add records seq and reports whether it was new.
func (s seenSet) add(conv string, seq int64) bool {
	r := s[conv]
	if r == nil {
		r = &seenRing{}
		s[conv] = r
	}
	for _, q := range r.recent {
		if q == seq {
			return false
		}
	}
	r.recent[r.next] = seq
	r.next = (r.next + 1) % seenWindow
	if seq > r.max {
		r.max = seq
	}
	return true
}

// catchUp replays what the client missed after its since positions, then
// releases the live events that arrived meanwhile.
func (s *Session) catchUp(ctx context.Context, since map[string]int64) error {
	base, err := s.g.svc.Positions(ctx, s.p)
	if err != nil {
		return err
	}
	for conv, seq := range since {
		base[conv] = seq
	}
	s.mu.Lock()
	s.baseline = base
	s.mu.Unlock()
	if len(since) > 0 {
		if err := s.g.svc.Replay(ctx, s.p, since, s.replayed); err != nil {
			return err
		}
	}
	s.release()
	return nil
}

// resync replays, after a bus outage, everything that may have been
// missed: from a little before the newest seq this session saw in each
// conversation, or from its baseline for conversations it saw nothing of.
func (s *Session) resync() {
	ctx, cancel := context.WithTimeout(s.g.ctx, time.Minute)
	defer cancel()
	s.mu.Lock()
	s.replaying = true
	s.mu.Unlock()
	defer s.release()
	now, err := s.g.svc.Positions(ctx, s.p)
	if err != nil {
		s.kill(CloseInternal, "resync failed, reconnect with since")
		return
	}
	from := make(map[string]int64, len(now))
	s.mu.Lock()
	for conv := range now {
		switch r := s.seen[conv]; {
		case r != nil:
			from[conv] = max(0, r.max-seenWindow)
		default:
			from[conv] = s.baseline[conv]
		}
	}
	s.mu.Unlock()
	if err := s.g.svc.Replay(ctx, s.p, from, s.replayed); err != nil {
		s.kill(CloseInternal, "resync failed, reconnect with since")
	}
}

// replayed sends one replayed message unless the socket already had it.
// It waits for room in the queue: a replay is bounded and must not count
// as a slow consumer.
func (s *Session) replayed(v *chat.MessageView) error {
	s.mu.Lock()
	isNew := s.seen.add(v.ConversationID, v.Seq)
	s.mu.Unlock()
	if !isNew {
		return nil
	}
	b := encode(chat.EventForMessage(v), v, nil)
	for !s.out.push(b) {
		s.kick()
		select {
		case <-s.out.space:
		case <-s.done:
			return context.Canceled
		}
	}
	s.kick()
	return nil
}

// release ends a replay: held live events go out, minus duplicates.
func (s *Session) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.pending {
		if d.seq > 0 && !s.seen.add(d.conv, d.seq) {
			continue
		}
		s.enqueue(d.frame)
	}
	s.pending = nil
	s.replaying = false
}
