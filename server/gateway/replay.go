package gateway

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/crypttalk/crypttalk/chat"
)

// Ordering and resumption.
//
// A client resumes with since = the highest seq it saw in each
// conversation, so the session must never show it seq N before every
// existing seq below N: otherwise a drop between the two leaves a hole
// that since cannot express. Live events do not come in seq order (two
// senders in one conversation publish in either order after their
// commits), so a live event that skips ahead of the session's watermark
// is held and the gap is filled from the store first, through the resync
// pool. A seq missing from the store may still come: MongoDB takes the
// seq before the message is written, and the write can land seconds later
// (a slow or frozen database, a node killed with the insert on the wire).
// So while the message after the gap is younger than Options.GapWait, the
// session waits for it, live events and replays alike, filling again with
// backoff; a client shown the next seq meanwhile would resume past it and
// never get it. After GapWait the seq is passed over (a failed write, or
// a message deleted or expired since) and remembered as a hole: a later
// replay sends it if it turned up after all, and nothing else below the
// watermark, which was all shown.
//
// While a replay runs (at connect, on a gap, after a bus outage) live
// events wait in pending, bounded by Options.PendingMax; on overflow they
// are dropped and the session replays again from the store before it goes
// live, which brings the messages back (ephemeral events of that moment
// are lost).

// seenWindow is how many recent seqs per conversation a session remembers
// to drop duplicates between replay and live delivery.
const seenWindow = 64

type seenSet map[string]*seenRing

type seenRing struct {
	max    int64
	recent [seenWindow]int64
	next   int
}

// has reports whether seq is among the recent seqs of conv.
func (s seenSet) has(conv string, seq int64) bool {
	r := s[conv]
	return r != nil && slices.Contains(r.recent[:], seq)
}

// add records seq and reports whether it was new.
func (s seenSet) add(conv string, seq int64) bool {
	if s.has(conv, seq) {
		return false
	}
	r := s[conv]
	if r == nil {
		r = &seenRing{}
		s[conv] = r
	}
	r.recent[r.next] = seq
	r.next = (r.next + 1) % seenWindow
	r.max = max(r.max, seq)
	return true
}

// Holes are remembered per conversation for holeTTL (a write that is not
// visible by then failed), at most maxHoles per conversation (beyond, the
// oldest are forgotten: such a message is still in history).
const (
	holeTTL  = time.Minute
	maxHoles = 256
)

// holeSet is, per conversation, the seqs passed over and when.
type holeSet map[string]map[int64]time.Time

// note records the seqs strictly between from and to as holes of conv.
func (h holeSet) note(conv string, from, to int64, now time.Time) {
	if to-from <= 1 {
		return
	}
	m := h[conv]
	if m == nil {
		m = make(map[int64]time.Time)
		h[conv] = m
	}
	for seq := max(from+1, to-maxHoles); seq < to; seq++ {
		m[seq] = now
	}
	for len(m) > maxHoles {
		delete(m, slices.Min(slices.Collect(maps.Keys(m))))
	}
}

// take reports whether seq is a hole of conv and forgets it.
func (h holeSet) take(conv string, seq int64) bool {
	m := h[conv]
	if _, ok := m[seq]; !ok {
		return false
	}
	delete(m, seq)
	if len(m) == 0 {
		delete(h, conv)
	}
	return true
}

// lowest is the lowest live hole of conv (0: none), after forgetting the
// expired ones.
func (h holeSet) lowest(conv string, now time.Time) int64 {
	var low int64
	for seq, at := range h[conv] {
		if now.Sub(at) > holeTTL {
			delete(h[conv], seq)
			continue
		}
		if low == 0 || seq < low {
			low = seq
		}
	}
	if len(h[conv]) == 0 {
		delete(h, conv)
	}
	return low
}

// resyncState is what a session still has to replay from the store.
type resyncState struct {
	running bool            // a replay of this session is in progress
	queued  bool            // the session waits in the resync queue
	full    bool            // every conversation (bus outage, overflow)
	convs   map[string]bool // conversations with a gap to fill
	refills int             // fills in a row that stopped at a young gap
	retry   bool            // the last replay stopped at a young gap: replay again after a pause
}

func (r *resyncState) wanted() bool { return r.full || len(r.convs) > 0 }

func (r *resyncState) covers(conv string) bool { return r.full || r.convs[conv] }

// mark is the session's watermark in conv: everything up to it that
// exists was shown or predates what the client asked for. Caller holds mu.
func (s *Session) mark(conv string) int64 {
	m := s.baseline[conv]
	if r := s.seen[conv]; r != nil {
		m = max(m, r.max)
	}
	return m
}

// shown reports whether a live message event with seq in conv must not
// go out: the client resumed past it, the socket had it, or it is more
// than seenWindow behind the
// watermark, which no original publish is (it follows its commit at
// once); that is a retry's re-publish of a message the socket got long
// ago. Caller holds mu.
func (s *Session) shown(conv string, seq int64) bool {
	if since, ok := s.since[conv]; ok && seq <= since {
		return true // the client said it has everything up to since
	}
	if _, hole := s.holes[conv][seq]; hole {
		return false
	}
	return s.seen.has(conv, seq) || seq <= s.mark(conv)-seenWindow
}

// deliver passes a live event to the socket, or holds it while a replay is
// running or a gap before it is being filled. It runs on an opener worker
// and never blocks: enqueue and kill do not wait for the socket.
func (s *Session) deliver(d *delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replaying {
		if len(s.pending) >= s.g.opts.PendingMax {
			s.pending, s.overflow = nil, true
		}
		s.pending = append(s.pending, d)
		return
	}
	if d.seq > 0 {
		if s.shown(d.conv, d.seq) {
			return
		}
		if d.seq > s.mark(d.conv)+1 {
			s.pending = append(s.pending, d)
			s.wantLocked(d.conv)
			return
		}
		s.holes.take(d.conv, d.seq)
		s.seen.add(d.conv, d.seq)
	}
	s.enqueue(d.frame)
}

// requestResync asks for a replay of every conversation from the store
// (the bus was away, or events were dropped).
func (s *Session) requestResync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wantLocked("")
}

// wantLocked notes a replay of conv ("" = all) and queues the session
// unless a replay of it is running (its release queues it again). Live
// events wait meanwhile. Caller holds mu.
func (s *Session) wantLocked(conv string) {
	s.replaying = true
	if conv == "" {
		s.rs.full = true
	} else {
		if s.rs.convs == nil {
			s.rs.convs = make(map[string]bool)
		}
		s.rs.convs[conv] = true
	}
	if !s.rs.running && !s.rs.queued {
		s.rs.queued = true
		s.g.resyncs.push(s)
	}
}

// errGap stops a replay at a gap that is still young (see GapWait).
var errGap = errors.New("gateway: a young gap in the seqs")

// youngGap reports whether a seq missing before a message created at may
// still be written. Non-message events (zero at) have no gap.
func (s *Session) youngGap(at time.Time) bool {
	return !at.IsZero() && time.Since(at) < s.g.opts.GapWait
}

// stopped notes that a replay of want stopped at a young gap: all of want
// is asked for again, after a pause (replays restart at the watermarks,
// so what went out is not sent twice).
func (s *Session) stopped(want resyncState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rs.full = s.rs.full || want.full
	for conv := range want.convs {
		if s.rs.convs == nil {
			s.rs.convs = make(map[string]bool)
		}
		s.rs.convs[conv] = true
	}
	s.rs.retry = true
}

// catchUp replays what the client missed after its since positions, then
// releases the live events that arrived meanwhile.
func (s *Session) catchUp(ctx context.Context, since map[string]int64) error {
	base, err := s.g.svc.Positions(ctx, s.p)
	if err != nil {
		return err
	}
	maps.Copy(base, since)
	s.mu.Lock()
	s.baseline, s.since = base, since
	s.mu.Unlock()
	done := resyncState{convs: make(map[string]bool, len(since))}
	for conv := range since {
		done.convs[conv] = true
	}
	if len(since) > 0 {
		err := s.g.svc.Replay(ctx, s.p, since, s.replayed)
		if errors.Is(err, errGap) {
			s.stopped(done)
			done = resyncState{}
		} else if err != nil {
			return err
		}
	}
	s.release(done)
	return nil
}

// runResync is a resync worker's turn on s: it replays what s asked for
// and releases the events held meanwhile.
func (s *Session) runResync() {
	s.mu.Lock()
	if s.isDone() {
		s.mu.Unlock()
		return
	}
	want := s.rs
	s.rs = resyncState{running: true, refills: want.refills}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	from, err := s.resyncFrom(ctx, want)
	if err == nil {
		err = s.g.svc.Replay(ctx, s.p, from, s.replayed)
	}
	if errors.Is(err, errGap) {
		s.stopped(want)
		s.release(resyncState{})
		return
	}
	if err != nil {
		if s.ctx.Err() == nil {
			s.g.log.Warn("resync failed", "err", err)
		}
		s.kill(CloseInternal, "resync failed, reconnect with since")
		return
	}
	s.release(want)
}

// resyncFrom is where each wanted conversation's replay starts: the
// watermark, or a window before it where a hole was passed over, but
// never before the baseline.
func (s *Session) resyncFrom(ctx context.Context, want resyncState) (map[string]int64, error) {
	var now map[string]int64
	if want.full {
		var err error
		if now, err = s.g.svc.Positions(ctx, s.p); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := time.Now()
	start := func(conv string) int64 {
		// Everything up to the watermark was shown (live events wait for
		// gaps to fill) except the holes, which may have turned up since:
		// the replay starts below the lowest, and replayed sends only them.
		if low := s.holes.lowest(conv, t); low > 0 {
			return low - 1
		}
		return s.mark(conv)
	}
	from := make(map[string]int64, len(now)+len(want.convs))
	for conv := range now {
		from[conv] = start(conv)
	}
	for conv := range want.convs {
		if _, ok := from[conv]; !ok {
			from[conv] = start(conv)
		}
	}
	return from, nil
}

// replayed sends one replayed message unless the socket already had it.
// It waits for room in the queue: a replay is bounded and must not count
// as a slow consumer.
func (s *Session) replayed(v *chat.MessageView) error {
	s.mu.Lock()
	conv, mark := v.ConversationID, s.mark(v.ConversationID)
	isNew := false
	switch {
	case v.Seq > mark+1 && s.youngGap(v.CreatedAt):
		s.mu.Unlock()
		return errGap
	case v.Seq <= mark:
		// Below the watermark only a hole is new: the rest was shown.
		isNew = s.holes.take(conv, v.Seq) && s.seen.add(conv, v.Seq)
	default:
		// The store may skip seqs: deleted or expired, or taken by a write
		// not visible yet, whose publish may be lost: holes.
		s.holes.note(conv, mark, v.Seq, time.Now())
		isNew = s.seen.add(conv, v.Seq)
	}
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

// refillDelay is the pause before the next fill of a young gap: short at
// first (a write in flight lands in milliseconds), then doubling, so a gap
// held for GapWait costs a few dozen store reads.
func refillDelay(refills int) time.Duration {
	return min(10*time.Millisecond<<min(refills, 7), time.Second)
}

// release ends a replay that covered done: held live events go out in
// arrival order, minus duplicates, unless more replay is due (requested
// meanwhile, pending overflowed, or a held event still skips ahead of the
// watermark), in which case the session queues for it and stays held.
func (s *Session) release(done resyncState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rs.running = false
	var delay time.Duration
	if s.rs.retry {
		s.rs.retry = false
		s.rs.refills++
		delay = refillDelay(s.rs.refills)
	}
	if s.overflow {
		s.overflow = false
		s.rs.full = true
	}
	if !s.rs.wanted() {
		for i, d := range s.pending {
			if d.seq > 0 {
				if s.shown(d.conv, d.seq) {
					continue
				}
				if d.seq > s.mark(d.conv)+1 && (!done.covers(d.conv) || s.youngGap(d.at)) {
					if done.covers(d.conv) {
						// The fill did not close the gap: look again later.
						s.rs.refills++
						delay = refillDelay(s.rs.refills)
					}
					s.pending = slices.Delete(s.pending, 0, i)
					s.rs.convs = map[string]bool{d.conv: true}
					break
				}
				s.holes.note(d.conv, s.mark(d.conv), d.seq, time.Now()) // passed over: they may still turn up
				s.holes.take(d.conv, d.seq)
				s.seen.add(d.conv, d.seq)
			}
			s.enqueue(d.frame)
		}
		if !s.rs.wanted() {
			s.pending, s.replaying, s.rs.refills = nil, false, 0
			return
		}
	}
	s.rs.queued = true
	if delay == 0 {
		s.g.resyncs.push(s)
		return
	}
	time.AfterFunc(delay, func() {
		if !s.isDone() {
			s.g.resyncs.push(s) // refused once the gateway closed
		}
	})
}
