package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

// fakeQueue is an in-memory store.FederationQueue.
type fakeQueue struct {
	mu       sync.Mutex
	items    map[string][]store.OutboxItem
	failures map[string]store.OutboxStats
	txns     map[string][]byte
	puts     int
	ackFails int // AckOutbox calls to fail before succeeding
	acks     int
}

func newFakeQueue() *fakeQueue {
	return &fakeQueue{items: map[string][]store.OutboxItem{}, failures: map[string]store.OutboxStats{}, txns: map[string][]byte{}}
}

func (q *fakeQueue) EnqueueOutbox(_ context.Context, it store.OutboxItem) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, x := range q.items[it.Destination] {
		if x.ID == it.ID {
			return nil
		}
	}
	q.items[it.Destination] = append(q.items[it.Destination], it)
	return nil
}

func (q *fakeQueue) PeekOutbox(_ context.Context, dest string, limit int) ([]store.OutboxItem, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	its := q.items[dest]
	if len(its) > limit {
		its = its[:limit]
	}
	return append([]store.OutboxItem(nil), its...), nil
}

func (q *fakeQueue) AckOutbox(_ context.Context, dest string, ids []string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ackFails > 0 {
		q.ackFails--
		return errors.New("ack: disk on fire")
	}
	q.acks++
	drop := map[string]bool{}
	for _, id := range ids {
		drop[id] = true
	}
	var keep []store.OutboxItem
	for _, it := range q.items[dest] {
		if !drop[it.ID] {
			keep = append(keep, it)
		}
	}
	q.items[dest] = keep
	delete(q.failures, dest)
	return nil
}

func (q *fakeQueue) NoteOutboxFailure(_ context.Context, dest, lastErr string, next time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.failures[dest]
	st.Destination, st.Attempts, st.LastError, st.NextAttempt = dest, st.Attempts+1, lastErr, next
	q.failures[dest] = st
	return nil
}

func (q *fakeQueue) OutboxDestinations(context.Context) ([]store.OutboxStats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []store.OutboxStats
	for dest, its := range q.items {
		st := q.failures[dest]
		st.Destination, st.Depth = dest, len(its)
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out, nil
}

func (q *fakeQueue) GetInboundTxn(_ context.Context, origin, txnID string) ([]byte, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r, ok := q.txns[origin+"\x00"+txnID]
	if !ok {
		return nil, store.ErrNotFound
	}
	return r, nil
}

func (q *fakeQueue) PutInboundTxn(_ context.Context, origin, txnID string, result []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.txns[origin+"\x00"+txnID]; ok {
		return store.ErrConflict
	}
	q.puts++
	q.txns[origin+"\x00"+txnID] = result
	return nil
}

func (q *fakeQueue) depth(dest string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items[dest])
}

func (q *fakeQueue) storedTxns() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.puts
}

// fakeChat records received events, once per event id, in order.
type fakeChat struct {
	mu       sync.Mutex
	got      []chat.RemoteEvent
	seen     map[string]bool
	receives int
	refuse   error // returned by Receive while set
	profiles map[string]chat.ProfileView
}

func newFakeChat() *fakeChat {
	return &fakeChat{seen: map[string]bool{}, profiles: map[string]chat.ProfileView{}}
}

func (c *fakeChat) Receive(_ context.Context, ev chat.RemoteEvent) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.receives++
	if c.refuse != nil {
		return c.refuse
	}
	if !c.seen[ev.EventID] {
		c.seen[ev.EventID] = true
		c.got = append(c.got, ev)
	}
	return nil
}

func (c *fakeChat) setRefuse(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refuse = err
}

// Outgoing reads the event from the item's payload; kind "gone" is an
// item whose message was deleted meanwhile.
func (c *fakeChat) Outgoing(_ context.Context, it store.OutboxItem) (chat.RemoteEvent, error) {
	if it.Kind == "gone" {
		return chat.RemoteEvent{}, chat.NotFound("message deleted")
	}
	var ev chat.RemoteEvent
	err := json.Unmarshal(it.Payload, &ev)
	return ev, err
}

func (c *fakeChat) LocalProfile(_ context.Context, userID string) (chat.ProfileView, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.profiles[userID]
	if !ok {
		return chat.ProfileView{}, chat.NotFound("unknown user")
	}
	return p, nil
}

func (c *fakeChat) events() []chat.RemoteEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]chat.RemoteEvent(nil), c.got...)
}

func (c *fakeChat) receiveCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.receives
}

// fakeLocker grants leases while held is set.
type fakeLocker struct {
	mu   sync.Mutex
	held bool
	asks int
}

func (l *fakeLocker) TryLease(context.Context, string, time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asks++
	return l.held, nil
}

func (l *fakeLocker) set(h bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held = h
}

// fakeLimiter allows while ok is set.
type fakeLimiter struct{ ok bool }

func (l *fakeLimiter) Allow(context.Context, string, int, time.Duration) (bool, time.Duration, error) {
	if l.ok {
		return true, 0, nil
	}
	return false, 7 * time.Second, nil
}

func (l *fakeLimiter) Check(ctx context.Context, k string, n int, w time.Duration) (bool, time.Duration, error) {
	return l.Allow(ctx, k, n, w)
}

// testServer is one homeserver's federation on a loopback listener.
type testServer struct {
	name  string
	key   *vault.SigningKey
	node  *Node
	chat  *fakeChat
	queue *fakeQueue
	url   string
	app   *fiber.App
}

// startServer serves a node named name; peers are filled in by link.
func startServer(t testing.TB, name string, peers map[string]string, tune func(*Options)) *testServer {
	t.Helper()
	return startServerAt(t, "127.0.0.1:0", name, peers, tune)
}

func startServerAt(t testing.TB, addr, name string, peers map[string]string, tune func(*Options)) *testServer {
	t.Helper()
	key := newKey(t, "k1")
	ts := &testServer{name: name, key: key, chat: newFakeChat(), queue: newFakeQueue()}
	o := Options{ServerName: name, Keys: vault.NewSigningKeys(key), Chat: ts.chat, Queue: ts.queue,
		ScanInterval: 50 * time.Millisecond, LeaseTTL: time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	o.Config.Peers = peers
	o.Config.RetryMin, o.Config.RetryMax = 10*time.Millisecond, 80*time.Millisecond
	o.Config.OriginRateCount, o.Config.OriginRateWindow = 1000, time.Minute
	if tune != nil {
		tune(&o)
	}
	n, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts.node = n
	ts.app = fiber.New(fiber.Config{DisableStartupMessage: true, StreamRequestBody: true, BodyLimit: 256 << 10})
	n.Routes(ts.app)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ts.url = "http://" + ln.Addr().String()
	go func() { _ = ts.app.Listener(ln) }()
	t.Cleanup(func() {
		n.Stop()
		_ = ts.app.Shutdown()
	})
	return ts
}

// pair starts a.example and b.example knowing each other.
func pair(t testing.TB, tuneA, tuneB func(*Options)) (a, b *testServer) {
	t.Helper()
	pa, pb := map[string]string{}, map[string]string{}
	a = startServer(t, "a.example", pa, tuneA)
	b = startServer(t, "b.example", pb, tuneB)
	pa["b.example"], pb["a.example"] = b.url, a.url
	return a, b
}

func evFor(i int) chat.RemoteEvent {
	return chat.RemoteEvent{Origin: "a.example", Type: "ct.message", Sender: "@alice:a.example", Recipient: "@bob:b.example",
		OriginTS: time.Now().UnixMilli(), Content: json.RawMessage(`{"msgtype":"text","body":"m` + itoa(i) + `","message_id":"id` + itoa(i) + `"}`)}
}

func profile(id, name string) chat.ProfileView { return chat.ProfileView{UserID: id, Username: name} }

// enqueue puts n text events from alice@a to bob@b into a's outbox.
func enqueue(t testing.TB, a *testServer, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		p, _ := json.Marshal(evFor(i))
		if err := a.queue.EnqueueOutbox(context.Background(), store.OutboxItem{ID: "i" + pad(i), Destination: "b.example", Kind: "ct.message", Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func pad(i int) string { return fmt.Sprintf("%06d", i) }
