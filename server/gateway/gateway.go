package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/internal/every"
)

// Options are the gateway's limits.
type Options struct {
	AuthTimeout  time.Duration // first frame must be auth within this
	PingInterval time.Duration // server heartbeat; a socket silent for 2x is dropped
	SendQueue    int           // frames buffered per socket before it is cut
	JSONDepth    int
	Logger       *slog.Logger
	Metrics      Metrics
	Limits       Limits // abuse limits (caps.go)
}

// Metrics receives the gateway's measurements.
type Metrics interface {
	Connections(delta int)
	Delivered(latency time.Duration)
}

type noMetrics struct{}

func (noMetrics) Connections(int)         {}
func (noMetrics) Delivered(time.Duration) {}

// Gateway owns this node's sessions.
type Gateway struct {
	svc  *chat.Service
	opts Options
	log  *slog.Logger
	hub  *hub
	rcpt *receipts

	abuse *guard // per-socket budgets, connection caps, typing gate

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a gateway and starts its background work.
func New(svc *chat.Service, opts Options) *Gateway {
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = 10 * time.Second
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 25 * time.Second
	}
	if opts.SendQueue <= 0 {
		opts.SendQueue = 256
	}
	if opts.JSONDepth <= 0 {
		opts.JSONDepth = 32
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = noMetrics{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{svc: svc, opts: opts, log: opts.Logger, ctx: ctx, cancel: cancel}
	g.hub = newHub(g)
	g.abuse = newGuard(opts.Limits)
	g.rcpt = newReceipts(svc, g.log)
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		g.rcpt.run(ctx, 50*time.Millisecond)
	}()
	go func() {
		defer g.wg.Done()
		g.heartbeat(ctx)
	}()
	svc.OnControl(g.onControl)
	return g
}

// onControl closes the sockets of revoked sessions on this node.
func (g *Gateway) onControl(c chat.Control) {
	switch c.Kind {
	case chat.ControlRevokeToken:
		g.hub.closeWhere(func(s *Session) bool { return s.p.TokenHash == c.TokenHash }, CloseUnauthorized, "logged out")
	case chat.ControlRevokeUser:
		g.hub.closeWhere(func(s *Session) bool { return s.p.User.ID == c.UserID }, CloseUnauthorized, "session revoked")
	}
}

// Resync makes every session on this node catch up from the store, after
// the bus was away and live events may have been lost.
func (g *Gateway) Resync() {
	for _, s := range g.hub.all() {
		go s.resync()
	}
}

// Shutdown closes every session with a going-away frame, waits for their
// writers, and stops background work.
func (g *Gateway) Shutdown(ctx context.Context) {
	g.hub.closeWhere(func(*Session) bool { return true }, CloseGoingAway, "server shutting down")
	g.cancel()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	g.rcpt.flush(context.Background())
}

// Sessions reports how many sessions this node holds.
func (g *Gateway) Sessions() int { return len(g.hub.all()) }

// PingInterval is the heartbeat period; transports drop a socket silent
// for twice as long.
func (g *Gateway) PingInterval() time.Duration { return g.opts.PingInterval }

// heartbeat pings every socket of the node each PingInterval from one
// goroutine, rather than a timer per socket.
func (g *Gateway) heartbeat(ctx context.Context) {
	every.Tick(ctx, g.opts.PingInterval, func(context.Context) {
		for _, s := range g.hub.all() {
			s.ping()
		}
	})
}
