package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/pubsub/local"
	"github.com/crypttalk/crypttalk/store"
)

// fakeOut stands for federation: it hands profile queries and ephemeral
// events straight to the peer's Service and records wakes.
type fakeOut struct {
	peer *chat.Service
	mu   sync.Mutex
	woke []string
	down bool
}

func (f *fakeOut) Wake(dest string) { f.mu.Lock(); f.woke = append(f.woke, dest); f.mu.Unlock() }
func (f *fakeOut) Ephemeral(ctx context.Context, _ string, ev chat.RemoteEvent) {
	ev.EventID = "$eph"
	_ = f.peer.Receive(ctx, ev)
}
func (f *fakeOut) QueryProfile(ctx context.Context, userID string) (chat.ProfileView, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return chat.ProfileView{}, errors.New("connection refused")
	}
	return f.peer.LocalProfile(ctx, userID)
}

// fedPair is two homeservers x and y federating through fakeOuts.
func fedPair(t *testing.T) (x, y *env, xo, yo *fakeOut) {
	x = newEnvWith(t, chat.Options{ServerName: "x", BcryptCost: 4}, nil)
	y = newEnvWith(t, chat.Options{ServerName: "y", BcryptCost: 4}, nil)
	xo, yo = &fakeOut{peer: y.svc}, &fakeOut{peer: x.svc}
	x.svc.SetOutbound(xo)
	y.svc.SetOutbound(yo)
	return x, y, xo, yo
}

// drain sends from's outbox for to's server the way the federation sender
// does: peek, build the event, deliver, ack. It returns how many went.
func drain(t *testing.T, from *env, dest string, to *env) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for {
		items, err := from.st.PeekOutbox(ctx, dest, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			return n
		}
		var ids []string
		for _, it := range items {
			ev, err := from.svc.Outgoing(ctx, it)
			if err != nil {
				t.Fatalf("Outgoing(%+v): %v", it, err)
			}
			ev.EventID = "$" + it.ID
			if err := to.svc.Receive(ctx, ev); err != nil {
				t.Fatalf("Receive(%+v): %v", ev, err)
			}
			ids = append(ids, it.ID)
		}
		if err := from.st.AckOutbox(ctx, dest, ids); err != nil {
			t.Fatal(err)
		}
		n += len(items)
	}
}

func history(t *testing.T, e *env, user, peer string) []string {
	t.Helper()
	ms, err := e.svc.History(context.Background(), e.users[user], chat.HistoryRequest{To: peer})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if m.Type == store.TypeText {
			out = append(out, m.From+": "+m.Message)
		}
	}
	return out
}

func wantStrings(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s = %q, want %q", what, got, want)
		}
	}
}

func TestFederationOffRefusesRemoteIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.svc.Send(context.Background(), e.users["alice"], chat.SendRequest{To: "@bob:y", Text: "hi"})
	var ce *chat.Error
	if !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("send to a remote id without federation: %v, want 404", err)
	}
}

func TestFederationDMBothWays(t *testing.T) {
	t.Parallel()
	x, y, xo, _ := fedPair(t)
	ctx := context.Background()
	for _, text := range []string{"one", "two", "three"} {
		if _, err := x.svc.Send(ctx, x.users["alice"], chat.SendRequest{To: "@bob:y", Text: text, TxnID: "t-" + text}); err != nil {
			t.Fatal(err)
		}
	}
	// A retried send (same txn id) is stored and queued once.
	if _, err := x.svc.Send(ctx, x.users["alice"], chat.SendRequest{To: "@bob:y", Text: "two", TxnID: "t-two"}); err != nil {
		t.Fatal(err)
	}
	if len(xo.woke) == 0 || xo.woke[0] != "y" {
		t.Fatalf("wakes = %v, want y", xo.woke)
	}
	if n := drain(t, x, "y", y); n != 3 {
		t.Fatalf("sent %d events, want 3", n)
	}
	if _, err := y.svc.Send(ctx, y.users["bob"], chat.SendRequest{To: "@alice:x", Text: "back"}); err != nil {
		t.Fatal(err)
	}
	drain(t, y, "x", x)
	want := []string{"@alice:x: one", "@alice:x: two", "@alice:x: three", "@bob:y: back"}
	wantStrings(t, "alice's history on x", history(t, x, "alice", "@bob:y"), want...)
	wantStrings(t, "bob's history on y", history(t, y, "bob", "@alice:x"), want...)
	convs, err := y.svc.Conversations(ctx, y.users["bob"])
	if err != nil || len(convs) != 1 || convs[0].Peer.UserID != "@alice:x" || convs[0].Peer.Username != "alice" {
		t.Fatalf("bob's conversations = %+v, %v", convs, err)
	}
	if convs[0].ConversationID != chat.ConversationID("@alice:x", "@bob:y") {
		t.Fatalf("conversation id differs between servers")
	}
}

func TestFederationReceiveIsIdempotent(t *testing.T) {
	t.Parallel()
	x, y, _, _ := fedPair(t)
	ctx := context.Background()
	if _, err := x.svc.Send(ctx, x.users["alice"], chat.SendRequest{To: "@bob:y", Text: "once"}); err != nil {
		t.Fatal(err)
	}
	items, err := x.st.PeekOutbox(ctx, "y", 10)
	if err != nil || len(items) != 1 {
		t.Fatalf("outbox = %v, %v", items, err)
	}
	ev1, err := x.svc.Outgoing(ctx, items[0])
	if err != nil {
		t.Fatal(err)
	}
	ev2, _ := x.svc.Outgoing(ctx, items[0])
	if ev1.OriginTS != ev2.OriginTS || string(ev1.Content) != string(ev2.Content) {
		t.Fatalf("Outgoing is not stable: %+v vs %+v", ev1, ev2)
	}
	for range 3 { // a retransmission after a lost ack, then a replay
		if err := y.svc.Receive(ctx, ev1); err != nil {
			t.Fatal(err)
		}
	}
	wantStrings(t, "bob's history", history(t, y, "bob", "@alice:x"), "@alice:x: once")
}

func TestFederationReceiveRefusals(t *testing.T) {
	t.Parallel()
	_, y, _, _ := fedPair(t)
	ctx := context.Background()
	msg := func(body string) json.RawMessage {
		b, _ := json.Marshal(map[string]string{"msgtype": "text", "body": body, "message_id": "m1"})
		return b
	}
	big := make([]byte, 20000)
	for i := range big {
		big[i] = 'a'
	}
	cases := []struct {
		name   string
		ev     chat.RemoteEvent
		status int
	}{
		{"sender not of origin", chat.RemoteEvent{Origin: "x", Sender: "@alice:z", Recipient: "@bob:y", Type: chat.FedMessage, Content: msg("hi")}, 403},
		{"origin is us", chat.RemoteEvent{Origin: "y", Sender: "@alice:y", Recipient: "@bob:y", Type: chat.FedMessage, Content: msg("hi")}, 403},
		{"recipient not local", chat.RemoteEvent{Origin: "x", Sender: "@alice:x", Recipient: "@bob:z", Type: chat.FedMessage, Content: msg("hi")}, 403},
		{"recipient unknown", chat.RemoteEvent{Origin: "x", Sender: "@alice:x", Recipient: "@nobody:y", Type: chat.FedMessage, Content: msg("hi")}, 404},
		{"wrong conversation", chat.RemoteEvent{Origin: "x", Sender: "@alice:x", Recipient: "@bob:y", ConversationID: "!nope", Type: chat.FedMessage, Content: msg("hi")}, 400},
		{"oversized body", chat.RemoteEvent{Origin: "x", Sender: "@alice:x", Recipient: "@bob:y", Type: chat.FedMessage, Content: msg(string(big))}, 413},
		{"empty body", chat.RemoteEvent{Origin: "x", Sender: "@alice:x", Recipient: "@bob:y", Type: chat.FedMessage, Content: msg("")}, 400},
		{"file", chat.RemoteEvent{Origin: "x", Sender: "@alice:x", Recipient: "@bob:y", Type: chat.FedMessage, Content: json.RawMessage(`{"msgtype":"file","body":"a","message_id":"m"}`)}, 415},
		{"no message id", chat.RemoteEvent{Origin: "x", Sender: "@alice:x", Recipient: "@bob:y", Type: chat.FedMessage, Content: json.RawMessage(`{"msgtype":"text","body":"a"}`)}, 400},
		{"bad content", chat.RemoteEvent{Origin: "x", Sender: "@alice:x", Recipient: "@bob:y", Type: chat.FedMessage, Content: json.RawMessage(`[1]`)}, 400},
		{"unknown type", chat.RemoteEvent{Origin: "x", Sender: "@alice:x", Recipient: "@bob:y", Type: "ct.nope", Content: json.RawMessage(`{}`)}, 400},
		{"bad timer", chat.RemoteEvent{Origin: "x", Sender: "@alice:x", Recipient: "@bob:y", Type: chat.FedTimer, Content: json.RawMessage(`{"seconds":-1}`)}, 400},
	}
	for _, c := range cases {
		err := y.svc.Receive(ctx, c.ev)
		var ce *chat.Error
		if !errors.As(err, &ce) || ce.Status != c.status {
			t.Errorf("%s: %v, want status %d", c.name, err, c.status)
		}
	}
	if h := history(t, y, "bob", "@alice:x"); len(h) != 0 {
		t.Fatalf("refused events stored messages: %q", h)
	}
}

func TestFederationReceiptsTimerDelete(t *testing.T) {
	t.Parallel()
	x, y, _, _ := fedPair(t)
	ctx := context.Background()
	alice, bob := x.users["alice"], y.users["bob"]
	for _, text := range []string{"a", "b"} {
		if _, err := x.svc.Send(ctx, alice, chat.SendRequest{To: "@bob:y", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, x, "y", y)
	conv := chat.ConversationID("@alice:x", "@bob:y")
	// bob reads on y: alice's conversation on x learns it, at x's seq.
	if _, err := y.svc.MarkRead(ctx, bob, conv, 2); err != nil {
		t.Fatal(err)
	}
	drain(t, y, "x", x)
	c, err := x.st.GetConversation(ctx, conv)
	if err != nil || c.ReadSeq["@bob:y"] != 2 {
		t.Fatalf("x's read position of bob = %v, %v", c, err)
	}
	// A timer set on x applies on y.
	if _, err := x.svc.SetTimer(ctx, alice, chat.TimerRequest{Peer: "@bob:y", Seconds: 60, Mode: store.TimerAfterSend}); err != nil {
		t.Fatal(err)
	}
	drain(t, x, "y", y)
	c, err = y.st.GetConversation(ctx, conv)
	if err != nil || c.TimerSeconds != 60 || c.TimerMode != store.TimerAfterSend {
		t.Fatalf("y's timer = %+v, %v", c, err)
	}
	// Typing goes straight across to a contact.
	got := y.events(t, "bob")
	x.svc.NotifyTyping(ctx, alice, "@bob:y", true)
	waitFor(t, func() bool {
		for _, e := range got() {
			if e == chat.EventTyping {
				return true
			}
		}
		return false
	})
	// Destroying the conversation on x destroys it on y.
	if _, err := x.svc.DestroyConversation(ctx, alice, "@bob:y"); err != nil {
		t.Fatal(err)
	}
	drain(t, x, "y", y)
	if _, err := y.st.GetConversation(ctx, conv); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("y's conversation after the delete: %v", err)
	}
}

func TestFederationPeerDownStillQueues(t *testing.T) {
	t.Parallel()
	x, y, xo, _ := fedPair(t)
	xo.mu.Lock()
	xo.down = true
	xo.mu.Unlock()
	ctx := context.Background()
	if _, err := x.svc.Send(ctx, x.users["alice"], chat.SendRequest{To: "@bob:y", Text: "while down"}); err != nil {
		t.Fatalf("send while the peer is down: %v", err)
	}
	drain(t, x, "y", y)
	wantStrings(t, "bob's history", history(t, y, "bob", "@alice:x"), "@alice:x: while down")
	// A user the peer says does not exist is not written to.
	xo.mu.Lock()
	xo.down = false
	xo.mu.Unlock()
	_, err := x.svc.Send(ctx, x.users["alice"], chat.SendRequest{To: "@nobody:y", Text: "hi"})
	var ce *chat.Error
	if !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("send to a user y does not know: %v, want 404", err)
	}
	p, err := x.svc.LocalProfile(ctx, "@alice:x")
	if err != nil || p.Username != "alice" {
		t.Fatalf("LocalProfile = %+v, %v", p, err)
	}
	if _, err := x.svc.LocalProfile(ctx, "@bob:y"); err == nil {
		t.Fatal("LocalProfile of a remote user succeeded")
	}
}

// waitFor polls cond until it holds or the test's deadline nears.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	limit := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-limit:
			t.Fatal("condition not reached within 10s")
		}
	}
}

func TestFederationUserSearchByRemoteID(t *testing.T) {
	t.Parallel()
	x, _, _, _ := fedPair(t)
	ctx := context.Background()
	got, err := x.svc.ListUsers(ctx, x.users["alice"], chat.UserList{Query: "@bob:y"})
	if err != nil || len(got) != 1 || got[0].UserID != "@bob:y" || got[0].Username != "bob" {
		t.Fatalf("search for @bob:y = %+v, %v", got, err)
	}
	got, err = x.svc.ListUsers(ctx, x.users["alice"], chat.UserList{Query: "@nobody:y"})
	if err != nil || len(got) != 0 {
		t.Fatalf("search for an unknown remote id = %+v, %v", got, err)
	}
}

// Searching by remote user ids makes this server ask other servers: a
// user who tries many is rate-limited (429), others are not.
func TestFederationRemoteSearchIsRateLimited(t *testing.T) {
	t.Parallel()
	x := newEnvWith(t, chat.Options{ServerName: "x", BcryptCost: 4}, local.NewLimiter(nil))
	y := newEnvWith(t, chat.Options{ServerName: "y", BcryptCost: 4}, nil)
	x.svc.SetOutbound(&fakeOut{peer: y.svc})
	ctx := context.Background()
	var limited error
	for i := range 100 {
		if _, err := x.svc.ListUsers(ctx, x.users["alice"], chat.UserList{Query: fmt.Sprintf("@u%d:y", i)}); err != nil {
			limited = err
			break
		}
	}
	if e := chat.AsError(limited); limited == nil || e.Status != 429 {
		t.Fatalf("100 remote searches in a row: %v, want 429 at some point", limited)
	}
	if _, err := x.svc.ListUsers(ctx, x.users["bob"], chat.UserList{Query: "@bob:y"}); err != nil {
		t.Fatalf("another user's search was limited too: %v", err)
	}
}

// TestFederationConcurrentDuplicateReceive: the same event delivered by
// two transactions at once (a retransmission racing the original, or two
// nodes of the receiving cluster) is stored once.
func TestFederationConcurrentDuplicateReceive(t *testing.T) {
	t.Parallel()
	_, y, _, _ := fedPair(t)
	ev := chat.RemoteEvent{Origin: "x", Sender: "@alice:x", Recipient: "@bob:y", Type: chat.FedMessage,
		Content: json.RawMessage(`{"msgtype":"text","body":"raced","message_id":"race-1"}`)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- y.svc.Receive(context.Background(), ev) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a duplicate delivery failed: %v", err)
		}
	}
	wantStrings(t, "bob's history", history(t, y, "bob", "@alice:x"), "@alice:x: raced")
}
