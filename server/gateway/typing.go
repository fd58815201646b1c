package gateway

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Per (sender, recipient) pair, typing changes pass at this rate. A person
// starts and stops typing far less often; a client flipping true/false in
// a loop is held to it whatever its frame budget.
const (
	typingPairRate  = 1 // per second
	typingPairBurst = 5
	typingForget    = time.Minute // a pair idle this long is forgotten
)

// typingGate coalesces typing signals per (sender, recipient) on this
// node: a repeat of the state last passed on produces nothing (typing:true
// again only after refresh), and changes are rate-limited per pair. It is
// what keeps one user's typing frames from filling another's send queue.
type typingGate struct {
	refresh time.Duration
	now     func() time.Time

	mu        sync.Mutex
	pairs     map[typingPair]*typingState
	lastSweep time.Time
}

type typingPair struct{ from, to string }

type typingState struct {
	typing bool
	sentAt time.Time
	lim    *rate.Limiter
}

func newTypingGate(refresh time.Duration, now func() time.Time) *typingGate {
	return &typingGate{refresh: refresh, now: now, pairs: make(map[typingPair]*typingState), lastSweep: now()}
}

// pass reports whether a typing signal from -> to should reach to, and
// records it as passed on if so.
func (g *typingGate) pass(from, to string, typing bool) bool {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	k := typingPair{from, to}
	st := g.pairs[k]
	if st == nil {
		// Unknown state (first signal, or forgotten): pass it, so that a
		// typing:false after a node restart still clears the indicator.
		st = &typingState{lim: rate.NewLimiter(typingPairRate, typingPairBurst)}
		g.pairs[k] = st
	} else if st.typing == typing && (!typing || now.Sub(st.sentAt) < g.refresh) {
		return false
	}
	if !st.lim.AllowN(now, 1) {
		return false // not recorded: the next signal tries again
	}
	st.typing, st.sentAt = typing, now
	return true
}

// sweep forgets idle pairs, at most once per typingForget, so the map
// holds only pairs active in the last two minutes.
func (g *typingGate) sweep(now time.Time) {
	if now.Sub(g.lastSweep) < typingForget {
		return
	}
	g.lastSweep = now
	for k, st := range g.pairs {
		if now.Sub(st.sentAt) > typingForget {
			delete(g.pairs, k)
		}
	}
}
