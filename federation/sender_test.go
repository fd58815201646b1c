package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/store"
)

const waitLimit = 20 * time.Second

func start(t *testing.T, s *testServer) {
	t.Helper()
	if err := s.node.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// bodies are the "body" fields of the events b received, in order.
func bodies(s *testServer) []string {
	var out []string
	for _, e := range s.chat.events() {
		var c struct{ Body string }
		_ = json.Unmarshal(e.Content, &c)
		out = append(out, c.Body)
	}
	return out
}

func checkInOrder(t *testing.T, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("received %d events, want %d", len(got), n)
	}
	for i, b := range got {
		if b != "m"+itoa(i) {
			t.Fatalf("event %d is %q: out of order or duplicated", i, b)
		}
	}
}

// TestSenderDeliversInOrderOnce: items queued before Start (a restart)
// and after (Wake) arrive once each and in order, in batches of at most 50;
// the keys are fetched over HTTP from the origin.
func TestSenderDeliversInOrderOnce(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a, b := pair(t, func(o *Options) { o.Registerer = reg }, nil)
	enqueue(t, a, 0, 120)
	start(t, a)
	enqueue(t, a, 120, 30)
	a.node.Wake("b.example")
	if !testenv.Poll(waitLimit, func() bool { return len(b.chat.events()) >= 150 && a.queue.depth("b.example") == 0 }) {
		t.Fatalf("b has %d events, a's outbox %d", len(b.chat.events()), a.queue.depth("b.example"))
	}
	checkInOrder(t, bodies(b), 150)
	if got := testutil.ToFloat64(a.node.m.sent.WithLabelValues("b.example")); got != 150 {
		t.Fatalf("sent metric %v", got)
	}
	if n := b.queue.storedTxns(); n < 3 {
		t.Fatalf("%d transactions for 150 events: batches over 50?", n)
	}
	for _, e := range b.chat.events() {
		if e.Origin != "a.example" || e.Recipient != "@bob:b.example" || e.EventID == "" {
			t.Fatalf("event %+v", e)
		}
	}
}

// TestSenderBacksOffWhileThePeerFails: a peer answering 503 is retried
// with backoff (failures recorded in the store and the metrics), and once
// it recovers everything arrives exactly once, in order.
func TestSenderBacksOffWhileThePeerFails(t *testing.T) {
	t.Parallel()
	a, b := pair(t, nil, nil)
	b.chat.setRefuse(errors.New("store down"))
	enqueue(t, a, 0, 10)
	start(t, a)
	if !testenv.Poll(waitLimit, func() bool { return testutil.ToFloat64(a.node.m.failed.WithLabelValues("b.example")) >= 3 }) {
		t.Fatal("no retries while the peer fails")
	}
	st, _ := a.queue.OutboxDestinations(context.Background())
	if len(st) != 1 || st[0].Attempts < 1 || st[0].LastError == "" || st[0].NextAttempt.IsZero() {
		t.Fatalf("failure record %+v", st)
	}
	if d := testutil.ToFloat64(a.node.m.retryDelay.WithLabelValues("b.example")); d <= 0 || d > 0.08 {
		t.Fatalf("retry delay %v s, want in (0, retry_max]", d)
	}
	b.chat.setRefuse(nil)
	if !testenv.Poll(waitLimit, func() bool { return a.queue.depth("b.example") == 0 }) {
		t.Fatal("not delivered after the peer recovered")
	}
	checkInOrder(t, bodies(b), 10)
	if d := testutil.ToFloat64(a.node.m.retryDelay.WithLabelValues("b.example")); d != 0 {
		t.Fatalf("retry delay %v after success", d)
	}
}

// TestSenderPeerStoppedThenStarted: b is down (nothing listening), then up.
func TestSenderPeerStoppedThenStarted(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bAddr := ln.Addr().String()
	_ = ln.Close() // b is down: nothing listens there until it starts
	a := startServer(t, "a.example", map[string]string{"b.example": "http://" + bAddr}, nil)
	enqueue(t, a, 0, 5)
	start(t, a)
	if !testenv.Poll(waitLimit, func() bool { return testutil.ToFloat64(a.node.m.failed.WithLabelValues("b.example")) >= 2 }) {
		t.Fatal("no failures recorded for a peer that is down")
	}
	b := startServerAt(t, bAddr, "b.example", map[string]string{"a.example": a.url}, nil)
	if !testenv.Poll(waitLimit, func() bool { return a.queue.depth("b.example") == 0 }) {
		t.Fatal("not delivered after the peer came up")
	}
	checkInOrder(t, bodies(b), 5)
}

// TestSenderLostAckResends: the send succeeded but the ack failed; the
// batch goes again with the same txn id and is answered from the record.
func TestSenderLostAckResends(t *testing.T) {
	t.Parallel()
	a, b := pair(t, nil, nil)
	a.queue.ackFails = 1
	enqueue(t, a, 0, 3)
	start(t, a)
	if !testenv.Poll(waitLimit, func() bool { return a.queue.depth("b.example") == 0 }) {
		t.Fatal("not delivered")
	}
	checkInOrder(t, bodies(b), 3)
	if n := b.chat.receiveCalls(); n != 3 {
		t.Fatalf("chat called %d times: the resend was not answered from the record", n)
	}
	if got := testutil.ToFloat64(b.node.m.inbound.WithLabelValues("replay")); got != 1 {
		t.Fatalf("replays %v", got)
	}
}

// TestSenderSkipsGoneAndIsolatesRefused: an item whose message is gone is
// acked unsent; a batch that the peer refuses whole is re-sent one item per
// transaction, so only the bad item is dropped.
func TestSenderSkipsGoneAndIsolatesRefused(t *testing.T) {
	t.Parallel()
	a, b := pair(t, nil, nil)
	ctx := context.Background()
	enqueue(t, a, 0, 2)
	_ = a.queue.EnqueueOutbox(ctx, store.OutboxItem{ID: "i000002g", Destination: "b.example", Kind: "gone"})
	bad, _ := json.Marshal(map[string]any{"origin": "a.example", "type": "ct.message", "sender": "@alice:a.example",
		"recipient": "@carol:c.example", "origin_server_ts": time.Now().UnixMilli(), "content": map[string]any{"body": "misrouted"}})
	_ = a.queue.EnqueueOutbox(ctx, store.OutboxItem{ID: "i000002x", Destination: "b.example", Kind: "ct.message", Payload: bad})
	for i := 2; i < 4; i++ {
		enqueue(t, a, i, 1)
	}
	start(t, a)
	if !testenv.Poll(waitLimit, func() bool { return a.queue.depth("b.example") == 0 }) {
		t.Fatalf("outbox still holds %d", a.queue.depth("b.example"))
	}
	checkInOrder(t, bodies(b), 4)
	if got := testutil.ToFloat64(a.node.m.dropped.WithLabelValues("b.example")); got != 1 {
		t.Fatalf("dropped %v, want 1", got)
	}
}

// TestSenderOnlyWithTheLease: a node without the destination's lease
// sends nothing; when the lease comes to it (the holder died), it sends.
func TestSenderOnlyWithTheLease(t *testing.T) {
	t.Parallel()
	lock := &fakeLocker{}
	a, b := pair(t, func(o *Options) { o.Locker = lock; o.LeaseTTL = 100 * time.Millisecond }, nil)
	enqueue(t, a, 0, 4)
	start(t, a)
	if !testenv.Poll(waitLimit, func() bool { lock.mu.Lock(); defer lock.mu.Unlock(); return lock.asks >= 3 }) {
		t.Fatal("lease never asked for")
	}
	if n := len(b.chat.events()); n != 0 {
		t.Fatalf("%d events sent without the lease", n)
	}
	lock.set(true)
	if !testenv.Poll(waitLimit, func() bool { return a.queue.depth("b.example") == 0 }) {
		t.Fatal("not sent once the lease was held")
	}
	checkInOrder(t, bodies(b), 4)
}

func TestProfileQueryAcross(t *testing.T) {
	t.Parallel()
	a, b := pair(t, nil, nil)
	b.chat.profiles["@bob:b.example"] = profile("@bob:b.example", "Bob")
	ctx := context.Background()
	p, err := a.node.QueryProfile(ctx, "@bob:b.example")
	if err != nil || p.Username != "Bob" {
		t.Fatalf("profile %+v %v", p, err)
	}
	if _, err := a.node.QueryProfile(ctx, "@nobody:b.example"); !isGone(err) {
		t.Fatalf("unknown user: %v, want chat NotFound", err)
	}
	// Ephemeral: best effort, straight to the peer.
	ev := evFor(0)
	a.node.Ephemeral(ctx, "b.example", ev)
	if len(b.chat.events()) != 1 {
		t.Fatalf("ephemeral event not received: %d", len(b.chat.events()))
	}
}

func TestBackoffAndTxnID(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		attempt int
		jitter  float64
		want    time.Duration
	}{{1, 0, 500 * time.Millisecond}, {1, 0.999999, time.Second - time.Microsecond}, {3, 0, 2 * time.Second}, {10, 0, 256 * time.Second}, {11, 0, 5 * time.Minute}, {100, 0, 5 * time.Minute}, {0, 0, 500 * time.Millisecond}} {
		got := Backoff(time.Second, 10*time.Minute, c.attempt, c.jitter)
		if got < c.want-time.Millisecond || got > c.want+time.Millisecond {
			t.Errorf("Backoff(attempt %d, jitter %v) = %v, want %v", c.attempt, c.jitter, got, c.want)
		}
	}
	x, y := TxnIDFor([]string{"a", "b"}), TxnIDFor([]string{"a", "b"})
	if x != y || x == TxnIDFor([]string{"a"}) || x == TxnIDFor([]string{"ab"}) || !ValidTxnID(x) || !ValidTxnID(randomTxnID()) {
		t.Fatalf("txn ids %s %s", x, y)
	}
}

// TestSenderDropsForDeniedDestination: items for a server the operator
// denies are dropped, not retried for ever; its users are unknown.
func TestSenderDropsForDeniedDestination(t *testing.T) {
	t.Parallel()
	a, b := pair(t, func(o *Options) { o.Config.DenyServers = []string{"b.example"} }, nil)
	b.chat.profiles["@bob:b.example"] = profile("@bob:b.example", "Bob")
	enqueue(t, a, 0, 3)
	start(t, a)
	if !testenv.Poll(waitLimit, func() bool { return a.queue.depth("b.example") == 0 }) {
		t.Fatal("items for a denied destination kept")
	}
	if got := testutil.ToFloat64(a.node.m.dropped.WithLabelValues("b.example")); got != 3 || len(b.chat.events()) != 0 {
		t.Fatalf("dropped %v, b received %d", got, len(b.chat.events()))
	}
	if _, err := a.node.QueryProfile(context.Background(), "@bob:b.example"); !isGone(err) {
		t.Fatalf("profile of a denied server's user: %v", err)
	}
}

// mediaChat serves no file at all, but says so as chat does.
type mediaChat struct{ *fakeChat }

func (mediaChat) LocalMedia(context.Context, string, string) (*chat.Download, error) {
	return nil, chat.NotFound("unknown file")
}

func TestMediaRefusals(t *testing.T) {
	t.Parallel()
	a, b := pair(t, nil, nil)
	ctx := context.Background()
	if _, err := a.node.FetchMedia(ctx, "b.example", "f1"); !isGone(err) {
		t.Fatalf("server without media: %v, want NotFound", err)
	}
	b.node.o.Chat = mediaChat{b.chat}
	if _, err := a.node.FetchMedia(ctx, "b.example", "f1"); !isGone(err) {
		t.Fatalf("unknown file: %v, want NotFound", err)
	}
	resp, err := http.Get(b.url + "/_crypttalk/federation/v1/media/f1")
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("unsigned media request: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestRetryEndsBackoff: after failures with a long backoff, Retry sends at
// once (ctl federation retry DEST).
func TestRetryEndsBackoff(t *testing.T) {
	t.Parallel()
	a, b := pair(t, func(o *Options) { o.Config.RetryMin, o.Config.RetryMax = time.Hour, time.Hour }, nil)
	b.chat.setRefuse(errors.New("store down"))
	enqueue(t, a, 0, 2)
	start(t, a)
	if !testenv.Poll(waitLimit, func() bool { return testutil.ToFloat64(a.node.m.failed.WithLabelValues("b.example")) >= 1 }) {
		t.Fatal("no failure")
	}
	b.chat.setRefuse(nil)
	a.node.Retry("b.example")
	if !testenv.Poll(waitLimit, func() bool { return a.queue.depth("b.example") == 0 }) {
		t.Fatal("Retry did not end the backoff")
	}
	checkInOrder(t, bodies(b), 2)
}

// panicChat panics on the first Outgoing, as a bad item might.
type panicChat struct {
	*fakeChat
	once sync.Once
}

func (c *panicChat) Outgoing(ctx context.Context, it store.OutboxItem) (chat.RemoteEvent, error) {
	c.once.Do(func() { panic("bad item") })
	return c.fakeChat.Outgoing(ctx, it)
}

// TestSenderSurvivesPanic: a panic in a sender is recovered, the sender
// starts again and delivers; Stop still joins everything.
func TestSenderSurvivesPanic(t *testing.T) {
	t.Parallel()
	a, b := pair(t, nil, nil)
	a.node.o.Chat = &panicChat{fakeChat: a.chat}
	enqueue(t, a, 0, 2)
	start(t, a)
	if !testenv.Poll(waitLimit, func() bool { return a.queue.depth("b.example") == 0 }) {
		t.Fatal("not delivered after a panic")
	}
	checkInOrder(t, bodies(b), 2)
}

// TestSenderCoalescesReceipts: of the receipts queued in one batch only
// the newest per (sender, recipient, conversation, kind) is sent; the
// others are acknowledged with the batch. Messages all go, in order.
func TestSenderCoalescesReceipts(t *testing.T) {
	t.Parallel()
	a, b := pair(t, nil, nil)
	receipt := func(kind, msg string) chat.RemoteEvent {
		ev := evFor(0)
		ev.Type, ev.ConversationID = chat.FedReceipt, "c1"
		ev.Content = json.RawMessage(`{"kind":"` + kind + `","message_id":"` + msg + `"}`)
		return ev
	}
	queued := []chat.RemoteEvent{evFor(0), receipt("read", "x1"), receipt("delivered", "x1"), receipt("read", "x2"), evFor(1), receipt("read", "x3")}
	for i, ev := range queued {
		p, _ := json.Marshal(ev)
		if err := a.queue.EnqueueOutbox(context.Background(), store.OutboxItem{ID: "i" + pad(i), Destination: "b.example", Kind: ev.Type, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	start(t, a)
	if !testenv.Poll(waitLimit, func() bool { return a.queue.depth("b.example") == 0 }) {
		t.Fatalf("a's outbox still holds %d", a.queue.depth("b.example"))
	}
	var got []string
	for _, e := range b.chat.events() {
		var c struct {
			Body      string `json:"body"`
			Kind      string `json:"kind"`
			MessageID string `json:"message_id"`
		}
		_ = json.Unmarshal(e.Content, &c)
		got = append(got, c.Body+c.Kind+":"+c.MessageID)
	}
	want := []string{"m0:id0", "delivered:x1", "m1:id1", "read:x3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("b received %q, want %q", got, want)
	}
}
