package gateway

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/store/bolt"
	"github.com/crypttalk/crypttalk/vault"
)

type fixture struct {
	svc  *chat.Service
	gw   *Gateway
	toks map[string]string // username -> token
	ids  map[string]string // username -> user_id
}

// fixtureWrap lets a test put a fake in front of the bus or the store.
type fixtureWrap struct {
	bus   func(pubsub.Bus) pubsub.Bus
	store func(store.Store) store.Store
}

func newFixture(t *testing.T, opts Options, wrap ...fixtureWrap) *fixture {
	t.Helper()
	dir := t.TempDir()
	bst, err := bolt.Open(filepath.Join(dir, "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bst.Close() })
	var st store.Store = bst
	var bus pubsub.Bus = local.New()
	for _, w := range wrap {
		if w.bus != nil {
			bus = w.bus(bus)
		}
		if w.store != nil {
			st = w.store(st)
		}
	}
	ring, _, err := vault.LoadOrCreateKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := chat.New(context.Background(), chat.Options{ServerName: "test", BcryptCost: 4}, chat.Deps{Store: st, Bus: bus, Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{svc: svc, gw: New(svc, opts), toks: map[string]string{}, ids: map[string]string{}}
	t.Cleanup(func() { f.gw.Shutdown(context.Background()) })
	for _, name := range []string{"alice", "bob"} {
		u, tok, err := svc.Register(context.Background(), chat.Credentials{Username: name, Email: name + "@x.org", Password: "long enough"})
		if err != nil {
			t.Fatal(err)
		}
		f.toks[name], f.ids[name] = tok, u.UserID
	}
	return f
}

// session starts a session for user on a fake transport and waits for ready.
func (f *fixture) session(t *testing.T, user string, since map[string]int64) *fakeTransport {
	t.Helper()
	tr := newFakeTransport()
	go f.gw.Serve(context.Background(), tr)
	tr.send(t, "auth", map[string]any{"token": f.toks[user], "since": since}, "")
	if g := tr.next(t); g.Event != "ready" {
		t.Fatalf("want ready, got %s %s", g.Event, g.Data)
	}
	return tr
}

func TestSessionSendAckDeliver(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.session(t, "alice", nil)
	b := f.session(t, "bob", nil)
	a.send(t, "send-msg", map[string]any{"to": f.ids["bob"], "msg": "hi"}, "1")
	ack := a.next(t, "msg-recieve", "user-connected", "receipt")
	if ack.Event != "ack" || string(ack.ID) != `"1"` || !strings.Contains(string(ack.Data), `"hi"`) {
		t.Fatalf("ack %s %s %s", ack.Event, ack.ID, ack.Data)
	}
	got := b.next(t, "user-connected")
	if got.Event != "msg-recieve" || !strings.Contains(string(got.Data), `"fromSelf":false`) {
		t.Fatalf("bob got %s %s", got.Event, got.Data)
	}
}

func TestSessionAuthTimeoutAndBadFirstFrame(t *testing.T) {
	f := newFixture(t, Options{AuthTimeout: 200 * time.Millisecond})
	tr := newFakeTransport()
	done := make(chan struct{})
	go func() { f.gw.Serve(context.Background(), tr); close(done) }()
	tr.send(t, "send-msg", map[string]any{}, "x")
	if g := tr.next(t); g.Event != "error" {
		t.Fatalf("frame before auth: %s", g.Event)
	}
	<-done
	if code, closed := tr.closeCode(); !closed || code != CloseAuthTimeout {
		t.Fatalf("close %d %v", code, closed)
	}
}

// A client that does not read is cut with 4000 and does not stall the
// sender or other clients.
func TestSlowConsumerIsCut(t *testing.T) {
	f := newFixture(t, Options{SendQueue: 4})
	slow := newFakeTransport()
	go f.gw.Serve(context.Background(), slow)
	slow.send(t, "auth", map[string]any{"token": f.toks["bob"]}, "")
	if g := slow.next(t); g.Event != "ready" {
		t.Fatal(g.Event)
	}
	slow.blockWrites.Store(true)
	fast := f.session(t, "bob", nil)
	a := f.session(t, "alice", nil)
	for i := 0; i < 50; i++ {
		a.send(t, "send-msg", map[string]any{"to": f.ids["bob"], "msg": "flood"}, "")
	}
	deadline := time.After(10 * time.Second)
	for {
		if code, closed := slow.closeCode(); closed {
			if code != CloseSlowConsumer {
				t.Fatalf("close code %d", code)
			}
			break
		}
		select {
		case <-deadline:
			t.Fatal("slow consumer never cut")
		case <-time.After(10 * time.Millisecond):
		}
	}
	n := 0
	for n < 50 {
		if g := fast.next(t, "user-connected", "receipt", "typing"); g.Event == "msg-recieve" {
			n++
		}
	}
}

func TestReplayNoGapNoDuplicate(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.session(t, "alice", nil)
	var conv string
	for i := 0; i < 5; i++ {
		a.send(t, "send-msg", map[string]any{"to": f.ids["bob"], "msg": "m"}, "id")
		ack := a.next(t, "msg-recieve", "receipt")
		var m chat.MessageView
		_ = json.Unmarshal(ack.Data, &m)
		conv = m.ConversationID
	}
	b := f.session(t, "bob", map[string]int64{conv: 2})
	seen := map[int64]bool{}
	go func() {
		for i := 0; i < 5; i++ {
			a.send(t, "send-msg", map[string]any{"to": f.ids["bob"], "msg": "live"}, "")
		}
	}()
	for len(seen) < 8 {
		g := b.next(t, "user-connected", "receipt")
		if g.Event != "msg-recieve" {
			continue
		}
		var m chat.MessageView
		_ = json.Unmarshal(g.Data, &m)
		if seen[m.Seq] || m.Seq <= 2 {
			t.Fatalf("seq %d delivered twice or below since", m.Seq)
		}
		seen[m.Seq] = true
	}
}

// A socket that answers nothing (no frame, no pong) is dropped after two
// heartbeat periods; the heartbeat itself is sent meanwhile.
func TestHeartbeatDropsDeadSocket(t *testing.T) {
	f := newFixture(t, Options{PingInterval: 100 * time.Millisecond})
	tr := newFakeTransport()
	done := make(chan struct{})
	go func() { f.gw.Serve(context.Background(), tr); close(done) }()
	tr.send(t, "auth", map[string]any{"token": f.toks["alice"]}, "")
	if g := tr.next(t); g.Event != "ready" {
		t.Fatal(g.Event)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a silent socket was never dropped")
	}
	if tr.pings.Load() == 0 {
		t.Fatal("no heartbeat ping was sent")
	}
}
