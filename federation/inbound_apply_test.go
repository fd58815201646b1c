package federation

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/store"
)

// gateChat wraps the receiving side's chat: it counts Receives in flight,
// can hold each until a second one is in flight (or a timer gives up), can
// fail chosen bodies once with our own (5xx) error, and notes whether the
// transaction's result was recorded while an event was still being applied.
type gateChat struct {
	Chat
	queue *fakeQueue
	hold  bool

	mu         sync.Mutex
	cond       *sync.Cond
	inFlight   int
	maxFlight  int
	failOnce   map[string]bool
	putsEarly  bool
	failedSeen int
}

func newGateChat(inner Chat, q *fakeQueue) *gateChat {
	g := &gateChat{Chat: inner, queue: q, failOnce: map[string]bool{}}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gateChat) Receive(ctx context.Context, ev chat.RemoteEvent) error {
	var c struct {
		Body string `json:"body"`
	}
	_ = json.Unmarshal(ev.Content, &c)
	g.mu.Lock()
	g.inFlight++
	g.maxFlight = max(g.maxFlight, g.inFlight)
	g.cond.Broadcast()
	if g.hold {
		// Sequential application never reaches two in flight: the timer
		// lets such a run go on (and fail on maxFlight) instead of hanging.
		give := time.AfterFunc(2*time.Second, func() {
			g.mu.Lock()
			g.hold = false
			g.cond.Broadcast()
			g.mu.Unlock()
		})
		for g.hold && g.inFlight < 2 {
			g.cond.Wait()
		}
		give.Stop()
		g.hold = false // shown once is enough
	}
	fail := g.failOnce[c.Body]
	if fail {
		delete(g.failOnce, c.Body)
		g.failedSeen++
	}
	g.mu.Unlock()
	var err error
	if fail {
		err = errors.New("store down")
	} else {
		err = g.Chat.Receive(ctx, ev)
	}
	g.queue.mu.Lock()
	early := g.queue.puts > 0
	g.queue.mu.Unlock()
	g.mu.Lock()
	g.inFlight--
	g.putsEarly = g.putsEarly || (early && g.failedSeen == 0)
	g.mu.Unlock()
	return err
}

// enqueueConvs puts per events into a's outbox for each of convs
// recipients on b, interleaved: item k goes to recipient k%convs.
func enqueueConvs(t testing.TB, a *testServer, convs, per int) {
	t.Helper()
	for k := range convs * per {
		ev := evFor(k)
		ev.Recipient = "@u" + itoa(k%convs) + ":b.example"
		p, _ := json.Marshal(ev)
		if err := a.queue.EnqueueOutbox(context.Background(), store.OutboxItem{ID: "i" + pad(k), Destination: "b.example", Kind: "ct.message", Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
}

// checkConvOrder fails unless every one of convs*per events arrived once
// and each conversation's in the order they were queued.
func checkConvOrder(t *testing.T, got []chat.RemoteEvent, convs, per int) {
	t.Helper()
	if len(got) != convs*per {
		t.Fatalf("%d events delivered, want %d", len(got), convs*per)
	}
	last := map[string]int{}
	for _, ev := range got {
		var c struct {
			Body string `json:"body"`
		}
		if err := json.Unmarshal(ev.Content, &c); err != nil {
			t.Fatal(err)
		}
		var k int
		for _, ch := range strings.TrimPrefix(c.Body, "m") {
			k = k*10 + int(ch-'0')
		}
		if prev, ok := last[ev.Recipient]; ok && prev > k {
			t.Fatalf("conversation of %s: m%d applied after m%d", ev.Recipient, k, prev)
		}
		last[ev.Recipient] = k
	}
}

// A transaction's events of different conversations are applied side by
// side (so their durable writes can share commits), each conversation's in
// order, and the transaction's result is recorded only after all of them.
func TestInboundAppliesConversationsConcurrently(t *testing.T) {
	t.Parallel()
	var g *gateChat
	a, b := pair(t, nil, func(o *Options) {
		g = newGateChat(o.Chat, o.Queue.(*fakeQueue))
		g.hold = true
		o.Chat = g
	})
	const convs, per = 4, 10 // 40 items: one transaction
	enqueueConvs(t, a, convs, per)
	if err := a.node.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.node.Wake("b.example")
	if !testenv.Poll(30*time.Second, func() bool { return a.queue.depth("b.example") == 0 }) {
		t.Fatal("outbox not drained")
	}
	checkConvOrder(t, b.chat.events(), convs, per)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.maxFlight < 2 {
		t.Fatalf("at most %d event applied at a time; want conversations in parallel", g.maxFlight)
	}
	if g.putsEarly {
		t.Fatal("the transaction result was recorded while its events were being applied")
	}
	b.queue.mu.Lock()
	defer b.queue.mu.Unlock()
	if b.queue.puts != 1 {
		t.Fatalf("%d transaction results recorded, want 1", b.queue.puts)
	}
}

// When one event fails with our own error, the transaction fails (503, no
// result recorded), the later events of its conversation are not applied
// before it, and the retry delivers everything once, in order.
func TestInboundFailureKeepsConversationOrder(t *testing.T) {
	t.Parallel()
	var g *gateChat
	a, b := pair(t, nil, func(o *Options) {
		g = newGateChat(o.Chat, o.Queue.(*fakeQueue))
		g.failOnce["m9"] = true // the third event of conversation u1
		o.Chat = g
	})
	const convs, per = 4, 10
	enqueueConvs(t, a, convs, per)
	if err := a.node.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.node.Wake("b.example")
	if !testenv.Poll(30*time.Second, func() bool { return a.queue.depth("b.example") == 0 }) {
		t.Fatal("outbox not drained")
	}
	checkConvOrder(t, b.chat.events(), convs, per)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failedSeen != 1 {
		t.Fatalf("the failing event was tried %d times", g.failedSeen)
	}
}
