package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/store"
)

// slowSubBus holds Subscribe of one topic until released: Redis slow to
// confirm one SUBSCRIBE.
type slowSubBus struct {
	pubsub.Bus
	topic   atomic.Pointer[string]
	entered chan struct{}
	release chan struct{}
}

func (b *slowSubBus) Subscribe(ctx context.Context, topic string, h pubsub.Handler) (pubsub.Subscription, error) {
	if p := b.topic.Load(); p != nil && *p == topic {
		b.entered <- struct{}{}
		<-b.release
	}
	return b.Bus.Subscribe(ctx, topic, h)
}

// register adds a user to the fixture.
func (f *fixture) register(t *testing.T, name string) {
	t.Helper()
	u, tok, err := f.svc.Register(context.Background(), chat.Credentials{Username: name, Email: name + "@x.org", Password: "long enough"})
	if err != nil {
		t.Fatal(err)
	}
	f.toks[name], f.ids[name] = tok, u.UserID
}

// A user whose subscription waits for the bus delays nobody else, not even
// a user whose sessions live in the same hub shard.
func TestSlowSubscribeDoesNotBlockOtherUsers(t *testing.T) {
	t.Parallel()
	sb := &slowSubBus{entered: make(chan struct{}), release: make(chan struct{})}
	f := newFixture(t, Options{}, fixtureWrap{bus: func(b pubsub.Bus) pubsub.Bus { sb.Bus = b; return sb }})
	// Find a user sharing alice's shard, where the old lock was held.
	var neighbour string
	for i := 0; neighbour == ""; i++ {
		name := fmt.Sprintf("nbr%d", i)
		f.register(t, name)
		if f.gw.hub.shard(f.ids[name]) == f.gw.hub.shard(f.ids["alice"]) {
			neighbour = name
		}
	}
	topic := pubsub.UserTopic(f.ids["alice"])
	sb.topic.Store(&topic)
	slow := newFakeTransport()
	go f.gw.Serve(context.Background(), slow)
	slow.send(t, "auth", map[string]any{"token": f.toks["alice"]}, "")
	<-sb.entered
	f.session(t, neighbour, nil) // would hang behind alice's shard lock
	f.session(t, "bob", nil)
	close(sb.release)
	if g := slow.next(t); g.Event != "ready" {
		t.Fatalf("alice after the slow subscribe: %s", g.Event)
	}
}

// sessionOf waits for user's session on the node (the only one).
func (f *fixture) sessionOf(t *testing.T, user string) *Session {
	t.Helper()
	var s *Session
	testenv.Poll(10*time.Second, func() bool {
		for _, x := range f.gw.hub.all() {
			if x.p.User.UserID == f.ids[user] {
				s = x
				return true
			}
		}
		return false
	})
	if s == nil {
		t.Fatalf("no session of %s", user)
	}
	return s
}

// readMessages reads until n messages arrived and returns their texts' seqs.
func readSeqs(t *testing.T, tr *fakeTransport, n int) map[int64]int {
	t.Helper()
	got := map[int64]int{}
	for count := 0; count < n; {
		g := tr.next(t, noise...)
		if g.Event != "msg-recieve" {
			continue
		}
		var m chat.MessageView
		_ = json.Unmarshal(g.Data, &m)
		got[m.Seq]++
		count++
	}
	return got
}

func onceEach(t *testing.T, got map[int64]int, n int) {
	t.Helper()
	for seq := int64(1); seq <= int64(n); seq++ {
		if got[seq] != 1 {
			t.Fatalf("seq %d received %d times: %v", seq, got[seq], got)
		}
	}
}

// The bus handler only appends to a bounded inbox; when it overflows, the
// dropped events come back through a resync of the user's sessions from
// the store, each message once.
func TestInboxOverflowResyncs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{UserInbox: 2})
	alice := f.principal(t, "alice")
	f.send(t, alice, f.ids["bob"], "before") // the conversation exists
	tr := f.session(t, "bob", nil)
	s := f.sessionOf(t, "bob")
	e := s.entry
	e.mu.Lock()
	e.queued = true // an opener busy with this user: events pile up
	e.mu.Unlock()
	for range 6 {
		f.send(t, alice, f.ids["bob"], "m")
	}
	e.mu.Lock()
	n, over := len(e.inbox), e.overflow
	e.mu.Unlock()
	if n != 2 || !over {
		t.Fatalf("inbox %d overflow %v, want 2 and true", n, over)
	}
	f.gw.hub.drain(e)
	got := readSeqs(t, tr, 6)
	for seq := int64(2); seq <= 7; seq++ {
		if got[seq] != 1 {
			t.Fatalf("seq %d received %d times: %v", seq, got[seq], got)
		}
	}
}

// While a session replays, live events wait in a bounded buffer; on
// overflow they are dropped and the session replays again, so no message
// is missing or doubled.
func TestPendingOverflowReplaysAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{PendingMax: 3})
	alice := f.principal(t, "alice")
	m := f.send(t, alice, f.ids["bob"], "first")
	tr := f.session(t, "bob", map[string]int64{m.ConversationID: 0})
	readSeqs(t, tr, 1)
	s := f.sessionOf(t, "bob")
	s.mu.Lock()
	s.replaying, s.rs.running = true, true // a replay in progress
	s.mu.Unlock()
	for range 10 {
		f.send(t, alice, f.ids["bob"], "m")
	}
	testenv.Poll(10*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.overflow
	})
	s.mu.Lock()
	held := len(s.pending)
	s.mu.Unlock()
	if held > 3 {
		t.Fatalf("pending holds %d events, bound is 3", held)
	}
	s.release(resyncState{})
	got := readSeqs(t, tr, 10)
	for seq := int64(2); seq <= 11; seq++ {
		if got[seq] != 1 {
			t.Fatalf("seq %d received %d times: %v", seq, got[seq], got)
		}
	}
}

// gateStore holds ListConversations (the first read of a resync) while
// gated and records how many callers waited at once.
type gateStore struct {
	store.Store
	gated    atomic.Bool
	release  chan struct{}
	mu       sync.Mutex
	inflight int
	peak     int
	calls    int
}

func (g *gateStore) ListConversations(ctx context.Context, userID string) ([]*store.Conversation, error) {
	if g.gated.Load() {
		g.mu.Lock()
		g.inflight++
		g.calls++
		g.peak = max(g.peak, g.inflight)
		g.mu.Unlock()
		<-g.release
		g.mu.Lock()
		g.inflight--
		g.mu.Unlock()
	}
	return g.Store.ListConversations(ctx, userID)
}

// After a bus outage every session resyncs, but through a pool: no more
// store replays run at once than Resyncers.
func TestResyncRunsThroughAPool(t *testing.T) {
	t.Parallel()
	gs := &gateStore{release: make(chan struct{})}
	f := newFixture(t, Options{Resyncers: 2}, fixtureWrap{store: func(s store.Store) store.Store { gs.Store = s; return gs }})
	const sessions = 8
	for range sessions / 2 {
		f.session(t, "alice", nil)
		f.session(t, "bob", nil)
	}
	// ready goes out before the catch-up reads positions: let those end
	// before the gate counts.
	testenv.Poll(10*time.Second, func() bool {
		for _, s := range f.gw.hub.all() {
			s.mu.Lock()
			busy := s.replaying
			s.mu.Unlock()
			if busy {
				return false
			}
		}
		return true
	})
	gs.gated.Store(true)
	f.gw.Resync()
	for released := 0; released < sessions; released++ {
		testenv.Poll(10*time.Second, func() bool {
			gs.mu.Lock()
			defer gs.mu.Unlock()
			return gs.inflight > 0
		})
		gs.release <- struct{}{}
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.calls != sessions || gs.peak > 2 {
		t.Fatalf("%d resyncs, %d at once; want %d, at most 2", gs.calls, gs.peak, sessions)
	}
}

// Cutting a slow consumer does not wait for its close frame: the user's
// other device keeps getting events while the close hangs.
func TestSlowCloseDoesNotStallFanout(t *testing.T) {
	t.Parallel()
	// The slow socket is cut once 8 frames wait (20 come); the fast one
	// needs the slack, its writer may not run between two sends under load.
	f := newFixture(t, Options{SendQueue: 8})
	slow := newFakeTransport()
	slow.closeGate = make(chan struct{})
	released := false
	defer func() {
		if !released {
			close(slow.closeGate)
		}
	}()
	go f.gw.Serve(context.Background(), slow)
	slow.send(t, "auth", map[string]any{"token": f.toks["bob"]}, "")
	if g := slow.next(t); g.Event != "ready" {
		t.Fatal(g.Event)
	}
	slow.blockWrites.Store(true)
	fast := f.session(t, "bob", nil)
	alice := f.principal(t, "alice")
	for range 20 {
		f.send(t, alice, f.ids["bob"], "m")
	}
	onceEach(t, readSeqs(t, fast, 20), 20)
	close(slow.closeGate)
	released = true
	if !testenv.Poll(10*time.Second, func() bool { _, closed := slow.closeCode(); return closed }) {
		t.Fatal("the slow socket was never cut")
	}
	if code, _ := slow.closeCode(); code != CloseSlowConsumer {
		t.Fatalf("the slow socket closed with %d, want %d", code, CloseSlowConsumer)
	}
}

// panicMetrics counts recovered panics.
type panicMetrics struct {
	noMetrics
	mu     sync.Mutex
	panics map[string]int
}

func (m *panicMetrics) Panic(where string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.panics == nil {
		m.panics = map[string]int{}
	}
	m.panics[where]++
}

func (m *panicMetrics) count(where string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.panics[where]
}

// A panic in a command, in the writer or in a resync closes that socket
// with 1011 and is counted; the node and the other sockets go on.
func TestPanicsCloseOneSocket(t *testing.T) {
	t.Parallel()
	pm := &panicMetrics{}
	ps := &panicStore{}
	f := newFixture(t, Options{Metrics: pm}, fixtureWrap{store: func(s store.Store) store.Store { ps.Store = s; return ps }})
	other := f.session(t, "alice", nil)

	cmd := f.session(t, "bob", nil)
	cmd.panicReads.Store(true)
	cmd.send(t, "ping", nil, "1")
	if code := waitClosed(t, cmd); code != CloseInternal {
		t.Fatalf("command panic: close %d", code)
	}

	wr := f.session(t, "bob", nil)
	wr.panicWrites.Store(true)
	wr.send(t, "ping", nil, "1")
	if code := waitClosed(t, wr); code != CloseInternal {
		t.Fatalf("writer panic: close %d", code)
	}

	rs := f.session(t, "bob", nil)
	ps.arm(f.ids["bob"])
	f.gw.Resync()
	if code := waitClosed(t, rs); code != CloseInternal {
		t.Fatalf("resync panic: close %d", code)
	}
	if pm.count("session") != 1 || pm.count("flush") != 1 || pm.count("resync") != 1 {
		t.Fatalf("panics counted %v", pm.panics)
	}
	if _, closed := other.closeCode(); closed {
		t.Fatal("a panic on bob's sockets closed alice's")
	}
	other.send(t, "ping", nil, "2")
	if g := other.next(t, noise...); g.Event != "pong" {
		t.Fatalf("alice after the panics: %s", g.Event)
	}
}

// panicStore, once armed, panics once where a resync of user reads.
type panicStore struct {
	store.Store
	user atomic.Pointer[string]
}

func (p *panicStore) arm(user string) { p.user.Store(&user) }

func (p *panicStore) ListConversations(ctx context.Context, userID string) ([]*store.Conversation, error) {
	if u := p.user.Load(); u != nil && *u == userID && p.user.CompareAndSwap(u, nil) {
		panic("test panic in a store read")
	}
	return p.Store.ListConversations(ctx, userID)
}

// Shutdown closes authenticated and still-authenticating sockets with
// 1001, returns only once every Serve has, and refuses sockets after it.
func TestShutdownClosesEverySocketThenRefuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{AuthTimeout: time.Minute})
	served := make(chan struct{}, 2)
	ready := newFakeTransport()
	go func() { f.gw.Serve(context.Background(), ready); served <- struct{}{} }()
	ready.send(t, "auth", map[string]any{"token": f.toks["alice"]}, "")
	if g := ready.next(t); g.Event != "ready" {
		t.Fatal(g.Event)
	}
	authing := newFakeTransport() // never authenticates
	go func() { f.gw.Serve(context.Background(), authing); served <- struct{}{} }()
	authing.send(t, "ping", nil, "") // answered with an error: it is in the handshake
	if g := authing.next(t); g.Event != "error" {
		t.Fatal(g.Event)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f.gw.Shutdown(ctx)
	if ctx.Err() != nil {
		t.Fatal("Shutdown waited for the auth timeout")
	}
	for range 2 {
		select {
		case <-served:
		default:
			t.Fatal("Shutdown returned before every Serve did")
		}
	}
	for name, tr := range map[string]*fakeTransport{"ready": ready, "authenticating": authing} {
		if code, closed := tr.closeCode(); !closed || code != CloseGoingAway {
			t.Fatalf("%s socket: close %d %v, want 1001", name, code, closed)
		}
	}
	late := newFakeTransport()
	f.gw.Serve(context.Background(), late)
	if code, closed := late.closeCode(); !closed || code != CloseGoingAway {
		t.Fatalf("socket after shutdown: close %d %v, want 1001", code, closed)
	}
}

// Serve calls racing Shutdown: no WaitGroup misuse (the race detector
// and WaitGroup's own checks catch an Add concurrent with Wait), every
// socket ends closed.
func TestServeRacingShutdown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	var wg sync.WaitGroup
	trs := make([]*fakeTransport, 20)
	for i := range trs {
		trs[i] = newFakeTransport()
		wg.Go(func() {
			tr := trs[i]
			go tr.send(t, "auth", map[string]any{"token": f.toks["bob"]}, "")
			f.gw.Serve(context.Background(), tr)
		})
	}
	f.gw.Shutdown(context.Background())
	wg.Wait()
	for i, tr := range trs {
		if _, closed := tr.closeCode(); !closed {
			t.Fatalf("socket %d left open", i)
		}
	}
}

// A worker of the gateway's pools (fan-out, resync) survives a panic in
// one item: it is counted, the item's cleanup runs, the next item is
// served by the same worker.
func TestPoolWorkerSurvivesAPanic(t *testing.T) {
	t.Parallel()
	pm := &panicMetrics{}
	f := newFixture(t, Options{Metrics: pm})
	q := newWorkQueue[int]()
	var cleaned atomic.Int32
	served := make(chan int, 2)
	startWorkers(f.gw, q, 1, "fanout", func(v int) {
		if v == 1 {
			panic("bad event")
		}
		served <- v
	}, func(int) { cleaned.Add(1) })
	q.push(1)
	q.push(2)
	select {
	case v := <-served:
		if v != 2 {
			t.Fatalf("served %d", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker died with the panic")
	}
	q.close()
	if cleaned.Load() != 1 || pm.count("fanout") != 1 {
		t.Fatalf("cleanups %d, panics %v", cleaned.Load(), pm.panics)
	}
}
