package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/crypttalk/crypttalk/chat"
)

// Close codes of the abuse limits (docs/API.md). They sit beside the
// codes in transport.go; clients reconnect after a backoff on both.
const (
	CloseTooManyFrames  = 4003 // the socket's frame budget ran out: reconnect after a backoff
	CloseTooManySockets = 4004 // the user or the address holds too many sockets: close some, retry later
)

// Limits bound what one client can cost the node or another user. A zero
// field takes its default.
type Limits struct {
	FrameRate      float64       // client frames per second one socket may sustain
	FrameBurst     int           // frames one socket may send at once
	SocketsPerUser int           // sockets of one user on this node
	PendingPerIP   int           // sockets of one address that have not authenticated yet
	TypingRefresh  time.Duration // a repeated typing:true is passed on again only after this
}

func (l *Limits) setDefaults() {
	if l.FrameRate <= 0 {
		l.FrameRate = 20
	}
	if l.FrameBurst <= 0 {
		l.FrameBurst = 100
	}
	if l.SocketsPerUser <= 0 {
		l.SocketsPerUser = 20
	}
	if l.PendingPerIP <= 0 {
		l.PendingPerIP = 32
	}
	if l.TypingRefresh <= 0 {
		l.TypingRefresh = 5 * time.Second
	}
}

// Addressed is an optional Transport ability: the client's address as the
// server sees it (after trusted proxies), for the per-address cap.
type Addressed interface {
	RemoteIP() string
}

// guard holds the node's abuse counters. Counts are per node: a user
// spread over several nodes may hold SocketsPerUser on each
// (docs/SECURITY.md says so).
type guard struct {
	lim     Limits
	mu      sync.Mutex
	pending map[string]int // address -> sockets not yet authenticated
	users   map[string]int // user_id -> open sockets
	typing  *typingGate
}

func newGuard(lim Limits) *guard {
	lim.setDefaults()
	return &guard{
		lim: lim, pending: make(map[string]int), users: make(map[string]int),
		typing: newTypingGate(lim.TypingRefresh, time.Now),
	}
}

// enter takes one slot of key in m unless it holds max already. leave
// gives it back and may be called more than once.
func (gd *guard) enter(m map[string]int, key string, max int) (leave func(), ok bool) {
	gd.mu.Lock()
	defer gd.mu.Unlock()
	if m[key] >= max {
		return nil, false
	}
	m[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			gd.mu.Lock()
			defer gd.mu.Unlock()
			if m[key]--; m[key] <= 0 {
				delete(m, key)
			}
		})
	}, true
}

// PendingFull reports whether ip holds its share of unauthenticated
// sockets already, so that the upgrade can be refused with 429 before a
// socket exists. Serve enforces the cap exactly; this is the cheap check.
func (g *Gateway) PendingFull(ip string) bool {
	gd := g.abuse
	gd.mu.Lock()
	defer gd.mu.Unlock()
	return gd.pending[ip] >= gd.lim.PendingPerIP
}

// admitPending counts t against its address until authenticated is
// called. A socket over the cap is closed with CloseTooManySockets.
func (g *Gateway) admitPending(t Transport) (authenticated func(), ok bool) {
	a, has := t.(Addressed)
	if !has || a.RemoteIP() == "" {
		return func() {}, true
	}
	leave, ok := g.abuse.enter(g.abuse.pending, a.RemoteIP(), g.abuse.lim.PendingPerIP)
	if !ok {
		g.log.Debug("socket over the per-address cap refused", "ip", a.RemoteIP())
		_ = t.Close(CloseTooManySockets, "too many unauthenticated sockets from this address")
		return nil, false
	}
	return leave, true
}

// admitUser counts an authenticated socket against its user. The socket
// over the cap is the one refused: it gets an error frame and
// CloseTooManySockets, the user's other sockets stay.
func (g *Gateway) admitUser(t Transport, p *chat.Principal) (leave func(), ok bool) {
	leave, ok = g.abuse.enter(g.abuse.users, p.User.UserID, g.abuse.lim.SocketsPerUser)
	if !ok {
		g.log.Info("socket over the per-user cap refused", "user_id", p.User.UserID, "cap", g.abuse.lim.SocketsPerUser)
		_ = t.WriteFrame(encodeError(&chat.Error{Status: 429, Code: chat.CodeRateLimited,
			Msg: "this account has too many open sockets on this server; close one and retry"}, nil))
		_ = t.Close(CloseTooManySockets, "too many sockets for this account")
		return nil, false
	}
	return leave, true
}

// watchExpiry closes s with 4001 when its access token expires. It is a
// runtime timer, not a goroutine, so an idle socket costs nothing until
// then. The returned func stops the timer.
func (s *Session) watchExpiry(ctx context.Context) (stop func()) {
	exp, err := s.g.svc.TokenExpiry(ctx, s.p)
	if err != nil {
		if chat.AsError(err).Status == 401 {
			s.kill(CloseUnauthorized, "access token expired or revoked")
		} else {
			s.g.log.WarnContext(ctx, "token expiry unknown", "err", err)
			s.kill(CloseInternal, "try again")
		}
		return func() {}
	}
	timer := time.AfterFunc(time.Until(exp), func() { s.kill(CloseUnauthorized, "access token expired") })
	return func() { timer.Stop() }
}
