package gateway

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/pubsub/local"
	"github.com/crypttalk/crypttalk/store/bolt"
	"github.com/crypttalk/crypttalk/vault"
)

// noise are events that may arrive at any time in these tests.
var noise = []string{"user-connected", "user-disconnected", "receipt"}

// waitClosed polls until tr is closed and returns its close code.
func waitClosed(t *testing.T, tr *fakeTransport) int {
	t.Helper()
	var code int
	if !testenv.Poll(10*time.Second, func() bool {
		c, closed := tr.closeCode()
		code = c
		return closed
	}) {
		t.Fatal("socket never closed")
	}
	return code
}

// converse makes alice and bob contacts: alice writes to bob.
func (f *fixture) converse(t *testing.T) {
	t.Helper()
	p, err := f.svc.Authenticate(context.Background(), f.toks["alice"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Send(context.Background(), p, chat.SendRequest{To: f.ids["bob"], Text: "hello"}); err != nil {
		t.Fatal(err)
	}
}

// typingFrames reads bob's frames up to the sentinel message and returns
// the typing states he saw on the way.
func typingFrames(t *testing.T, tr *fakeTransport, sentinel string) []bool {
	t.Helper()
	var out []bool
	for {
		g := tr.next(t, noise...)
		switch g.Event {
		case "typing":
			var d struct{ Typing bool }
			_ = json.Unmarshal(g.Data, &d)
			out = append(out, d.Typing)
		case "msg-recieve":
			if strings.Contains(string(g.Data), sentinel) {
				return out
			}
		}
	}
}

func TestTypingReachesOnlyContactsAndRepeatsAreCoalesced(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	a := f.session(t, "alice", nil)
	b := f.session(t, "bob", nil)

	// A stranger's typing is acknowledged and goes nowhere; the message
	// after it is the sentinel that proves nothing came before.
	a.send(t, "typing", map[string]any{"to": f.ids["bob"], "typing": true}, "t0")
	if g := a.next(t, noise...); g.Event != "ack" {
		t.Fatalf("typing to a stranger: %s %s", g.Event, g.Data)
	}
	a.send(t, "send-msg", map[string]any{"to": f.ids["bob"], "msg": "sentinel-1"}, "")
	if got := typingFrames(t, b, "sentinel-1"); len(got) != 0 {
		t.Fatalf("a stranger's typing reached bob: %v", got)
	}

	// Now they share a conversation: five repeats are one signal.
	for i := 0; i < 5; i++ {
		a.send(t, "typing", map[string]any{"to": f.ids["bob"], "typing": true}, "")
	}
	a.send(t, "typing", map[string]any{"to": f.ids["bob"], "typing": false}, "")
	a.send(t, "typing", map[string]any{"to": f.ids["bob"], "typing": false}, "")
	a.send(t, "send-msg", map[string]any{"to": f.ids["bob"], "msg": "sentinel-2"}, "")
	if got := typingFrames(t, b, "sentinel-2"); len(got) != 2 || !got[0] || got[1] {
		t.Fatalf("bob saw typing %v, want [true false]", got)
	}

	// An unknown recipient is still an error.
	a.send(t, "typing", map[string]any{"to": "@nobody:test", "typing": true}, "t1")
	if g := a.next(t, append(noise, "msg-recieve")...); g.Event != "error" || !strings.Contains(string(g.Data), "CT_NOT_FOUND") {
		t.Fatalf("typing to nobody: %s %s", g.Event, g.Data)
	}
}

func TestTypingGate(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	g := newTypingGate(5*time.Second, func() time.Time { return now })
	step := func(d time.Duration) { now = now.Add(d) }
	if !g.pass("a", "b", true) {
		t.Fatal("first typing:true must pass")
	}
	step(2 * time.Second)
	if g.pass("a", "b", true) {
		t.Fatal("a repeat within the refresh must not pass")
	}
	if !g.pass("a", "c", true) {
		t.Fatal("another recipient is another pair")
	}
	step(4 * time.Second)
	if !g.pass("a", "b", true) {
		t.Fatal("typing:true passes again after the refresh")
	}
	if !g.pass("a", "b", false) || g.pass("a", "b", false) {
		t.Fatal("typing:false passes once")
	}
	// Flipping in a loop is held to the pair's rate: of 100 changes at one
	// instant only the burst passes.
	passed := 0
	for i := range 100 {
		if g.pass("x", "y", i%2 == 0) {
			passed++
		}
	}
	if passed != typingPairBurst {
		t.Fatalf("%d of 100 flips passed, want %d", passed, typingPairBurst)
	}
	step(2 * typingForget)
	g.pass("a", "b", true) // sweeps
	if n := len(g.pairs); n != 1 {
		t.Fatalf("%d pairs kept after the sweep, want 1", n)
	}
}

func TestFrameBudgetClosesTheFlooderNotTheVictim(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{Limits: Limits{FrameRate: 1, FrameBurst: 20}})
	f.converse(t)
	a := f.session(t, "alice", nil)
	b := f.session(t, "bob", nil)
	go func() {
		for i := 0; i < 60; i++ {
			select {
			case a.in <- []byte(`{"event":"typing","data":{"to":"` + f.ids["bob"] + `","typing":` + map[bool]string{true: "true", false: "false"}[i%2 == 0] + `}}`):
			case <-a.done:
				return
			}
		}
	}()
	if code := waitClosed(t, a); code != CloseTooManyFrames {
		t.Fatalf("flooder closed with %d, want %d", code, CloseTooManyFrames)
	}
	p, err := f.svc.Authenticate(context.Background(), f.toks["alice"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Send(context.Background(), p, chat.SendRequest{To: f.ids["bob"], Text: "after the flood"}); err != nil {
		t.Fatal(err)
	}
	typingFrames(t, b, "after the flood")
	if _, closed := b.closeCode(); closed {
		t.Fatal("the victim's socket was closed")
	}
}

func TestSocketsPerUserCap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{Limits: Limits{SocketsPerUser: 2}})
	first := f.session(t, "alice", nil)
	f.session(t, "alice", nil)
	third := newFakeTransport()
	go f.gw.Serve(context.Background(), third)
	third.send(t, "auth", map[string]any{"token": f.toks["alice"]}, "")
	if g := third.next(t); g.Event != "error" || !strings.Contains(string(g.Data), "CT_RATE_LIMITED") {
		t.Fatalf("third socket got %s %s", g.Event, g.Data)
	}
	if code := waitClosed(t, third); code != CloseTooManySockets {
		t.Fatalf("third socket closed with %d", code)
	}
	f.session(t, "bob", nil) // another user is not affected
	_ = first.Close(CloseNormal, "")
	if !testenv.Poll(10*time.Second, func() bool {
		f.gw.abuse.mu.Lock()
		defer f.gw.abuse.mu.Unlock()
		return f.gw.abuse.users[f.ids["alice"]] == 1
	}) {
		t.Fatal("a closed socket's slot was not given back")
	}
	f.session(t, "alice", nil)
}

type addrTransport struct {
	*fakeTransport
	ip string
}

func (a addrTransport) RemoteIP() string { return a.ip }

func TestPendingPerIPCap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{Limits: Limits{PendingPerIP: 2}})
	var held []addrTransport
	for range 2 {
		tr := addrTransport{newFakeTransport(), "192.0.2.1"}
		held = append(held, tr)
		go f.gw.Serve(context.Background(), tr)
	}
	if !testenv.Poll(10*time.Second, func() bool { return f.gw.PendingFull("192.0.2.1") }) {
		t.Fatal("two unauthenticated sockets do not fill the cap")
	}
	over := addrTransport{newFakeTransport(), "192.0.2.1"}
	go f.gw.Serve(context.Background(), over)
	if code := waitClosed(t, over.fakeTransport); code != CloseTooManySockets {
		t.Fatalf("socket over the cap closed with %d", code)
	}
	other := addrTransport{newFakeTransport(), "192.0.2.2"}
	go f.gw.Serve(context.Background(), other)
	other.send(t, "auth", map[string]any{"token": f.toks["bob"]}, "")
	if g := other.next(t); g.Event != "ready" {
		t.Fatalf("another address: %s", g.Event)
	}
	// Authenticating frees the slot: the cap counts only sockets that
	// have not authenticated.
	held[0].send(t, "auth", map[string]any{"token": f.toks["alice"]}, "")
	if g := held[0].next(t); g.Event != "ready" {
		t.Fatalf("held socket: %s", g.Event)
	}
	if f.gw.PendingFull("192.0.2.1") {
		t.Fatal("an authenticated socket still counts as pending")
	}
}

func TestSocketClosedAtTokenExpiry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, _, err := vault.LoadOrCreateKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := chat.New(context.Background(), chat.Options{ServerName: "test", BcryptCost: 4, TokenTTL: 500 * time.Millisecond},
		chat.Deps{Store: st, Bus: local.New(), Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	gw := New(svc, Options{})
	t.Cleanup(func() { gw.Shutdown(context.Background()) })
	_, tok, err := svc.Register(context.Background(), chat.Credentials{Username: "carol", Email: "carol@x.org", Password: "long enough"})
	if err != nil {
		t.Fatal(err)
	}
	tr := newFakeTransport()
	go gw.Serve(context.Background(), tr)
	tr.send(t, "auth", map[string]any{"token": tok}, "")
	if g := tr.next(t); g.Event != "ready" {
		t.Fatalf("want ready, got %s", g.Event)
	}
	if code := waitClosed(t, tr); code != CloseUnauthorized {
		t.Fatalf("closed with %d at token expiry, want %d", code, CloseUnauthorized)
	}
}

// closingTransport answers WriteClose like the WebSocket transport: the
// close frame is recorded and the socket stays open for the drain.
type closingTransport struct {
	*fakeTransport
	closeSent atomic.Int32
}

func (c *closingTransport) WriteClose(code int, _ string) error {
	c.closeSent.Store(int32(code))
	return nil
}

// The flooder gets its close frame before the socket is closed, and the
// socket is closed within cutLinger even though the client never answers.
func TestCutSendsTheCloseFrameFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{Limits: Limits{FrameRate: 1, FrameBurst: 5}})
	tr := &closingTransport{fakeTransport: newFakeTransport()}
	go f.gw.Serve(context.Background(), tr)
	tr.send(t, "auth", map[string]any{"token": f.toks["alice"]}, "")
	if g := tr.next(t); g.Event != "ready" {
		t.Fatal(g.Event)
	}
	go func() {
		for {
			select {
			case tr.in <- []byte(`{"event":"ping"}`):
			case <-tr.done:
				return
			}
		}
	}()
	if code := waitClosed(t, tr.fakeTransport); code != CloseTooManyFrames {
		t.Fatalf("closed with %d, want %d", code, CloseTooManyFrames)
	}
	if got := tr.closeSent.Load(); got != CloseTooManyFrames {
		t.Fatalf("close frame %d sent before closing, want %d", got, CloseTooManyFrames)
	}
}
