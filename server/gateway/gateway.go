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

	// Fan-out bounds (zero: default). UserInbox is how many bus events
	// of one user wait to be opened; beyond it events are dropped and the
	// user's sessions resync from the store. PendingMax is how many live
	// events one session holds while it replays; beyond it they are
	// dropped and the session replays again from the store. Ephemeral
	// events (typing, presence, receipts) dropped that way are lost;
	// messages are not. Openers and Resyncers size the worker pools that
	// open bus events and run resyncs.
	UserInbox  int
	PendingMax int
	Openers    int
	Resyncers  int

	// GapWait is how long a session holds live events behind a seq the
	// store does not show yet before it passes over it (zero: 10s). A
	// MongoDB seq is taken before its message is written, and a write can
	// land seconds later (a slow or frozen database, a node killed with
	// the insert on the wire); a client shown the next seq meanwhile would
	// resume past it and never get it. Keep it above the store's op
	// timeout.
	GapWait time.Duration
}

// Metrics receives the gateway's measurements.
type Metrics interface {
	Connections(delta int)
	Delivered(latency time.Duration)
	// Panic counts a recovered panic; where is "session", "flush",
	// "fanout", "resync" or "background".
	Panic(where string)
}

type noMetrics struct{}

func (noMetrics) Connections(int)         {}
func (noMetrics) Delivered(time.Duration) {}
func (noMetrics) Panic(string)            {}

// Gateway owns this node's sessions.
type Gateway struct {
	svc  *chat.Service
	opts Options
	log  *slog.Logger
	hub  *hub
	rcpt *receipts

	abuse *guard // per-socket budgets, connection caps, typing gate

	openers *workQueue[*userEntry] // users with bus events to open
	resyncs *workQueue[*Session]   // sessions due to catch up from the store

	// ctx ends at Shutdown; every session's context derives from it.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex // guards stopping, so Serve's Add cannot race Wait
	stopping bool
	sessions sync.WaitGroup // Serve calls
	workers  sync.WaitGroup // pools, heartbeat, receipts
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
	if opts.UserInbox <= 0 {
		opts.UserInbox = 1024
	}
	if opts.PendingMax <= 0 {
		opts.PendingMax = 1024
	}
	if opts.Openers <= 0 {
		opts.Openers = 16
	}
	if opts.Resyncers <= 0 {
		opts.Resyncers = 4
	}
	if opts.GapWait <= 0 {
		opts.GapWait = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{svc: svc, opts: opts, log: opts.Logger, ctx: ctx, cancel: cancel}
	g.hub = newHub(g)
	g.abuse = newGuard(opts.Limits)
	g.rcpt = newReceipts(svc, g.log)
	g.openers, g.resyncs = newWorkQueue[*userEntry](), newWorkQueue[*Session]()
	startWorkers(g, g.openers, opts.Openers, "fanout", g.hub.drain, func(e *userEntry) {
		// The entry stays marked queued; free it so later events flow.
		e.mu.Lock()
		e.queued = false
		e.mu.Unlock()
	})
	startWorkers(g, g.resyncs, opts.Resyncers, "resync", (*Session).runResync, func(s *Session) {
		s.kill(CloseInternal, "internal error, reconnect with since")
	})
	g.workers.Go(func() {
		every.Tick(ctx, 50*time.Millisecond, func(ctx context.Context) {
			g.safely("background", func() { g.rcpt.flush(ctx) }, nil)
		})
	})
	g.workers.Go(func() { g.heartbeat(ctx) })
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
// The sessions queue for a small worker pool, so that a Redis blip does
// not start one store replay per socket at once.
func (g *Gateway) Resync() {
	for _, s := range g.hub.all() {
		s.requestResync()
	}
}

// track counts one more Serve call unless the gateway is shutting down.
func (g *Gateway) track() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		return false
	}
	g.sessions.Add(1)
	return true
}

// Shutdown refuses new sockets, closes every session with a going-away
// frame (sockets still authenticating included), waits for the sessions
// to end, then stops and joins the background workers and writes the
// last delivered receipts. It returns early, leaving work behind, only
// when ctx ends first.
func (g *Gateway) Shutdown(ctx context.Context) {
	g.mu.Lock()
	g.stopping = true
	g.mu.Unlock()
	g.cancel() // handshakes and replays stop; Serve closes their sockets
	g.hub.closeWhere(func(*Session) bool { return true }, CloseGoingAway, "server shutting down")
	if !waitCtx(ctx, &g.sessions) {
		g.log.Warn("shutdown: sessions still ending at the deadline")
	}
	g.openers.close()
	g.resyncs.close()
	if !waitCtx(ctx, &g.workers) {
		g.log.Warn("shutdown: background workers still running at the deadline")
	}
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.rcpt.flush(fctx)
}

// waitCtx waits for wg until ctx ends and reports whether wg finished.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
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
		g.safely("background", func() {
			for _, s := range g.hub.all() {
				s.ping()
			}
		}, nil)
	})
}
