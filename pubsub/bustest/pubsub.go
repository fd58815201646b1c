package bustest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
)

func runPubSub(t *testing.T, newBus NewBus) {
	t.Run("PayloadsArriveIntact", func(t *testing.T) { testPayloads(t, newBus) })
	t.Run("SeveralHandlersOneTopic", func(t *testing.T) { testSeveralHandlers(t, newBus) })
	t.Run("Unsubscribe", func(t *testing.T) { testUnsubscribe(t, newBus) })
	t.Run("UnsubscribeDropsQueued", func(t *testing.T) { testUnsubscribeDropsQueued(t, newBus) })
	t.Run("OrderPerTopic", func(t *testing.T) { testOrder(t, newBus) })
	t.Run("ConcurrentPublishers", func(t *testing.T) { testConcurrentPublishers(t, newBus) })
	t.Run("AcrossNodes", func(t *testing.T) { testAcrossNodes(t, newBus) })
	t.Run("HandlerReentersBus", func(t *testing.T) { testReentrantHandler(t, newBus) })
	t.Run("BadInput", func(t *testing.T) { testPubSubBadInput(t, newBus) })
	t.Run("Close", func(t *testing.T) { testClose(t, newBus) })
}

func testPayloads(t *testing.T, newBus NewBus) {
	b := newBus(t)
	ctx := context.Background()
	payloads := [][]byte{
		[]byte("hello"),
		{},
		{0, 1, 2, 0xff, 0, '\r', '\n'},
		bytes.Repeat([]byte("sealed"), 20_000),
	}
	var mu sync.Mutex
	var got [][]byte
	_, err := b.Subscribe(ctx, "payloads", func(topic string, p []byte) {
		if topic != "payloads" {
			t.Errorf("handler got topic %q", topic)
		}
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	for _, p := range payloads {
		buf = append(buf[:0], p...)
		if err := b.Publish(ctx, "payloads", buf); err != nil {
			t.Fatal(err)
		}
		// The caller may reuse its buffer as soon as Publish returns.
		for i := range buf {
			buf[i] = 'X'
		}
	}
	WaitFor(t, "all payloads", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == len(payloads) })
	for i := range payloads {
		if !bytes.Equal(got[i], payloads[i]) {
			t.Errorf("payload %d: got %d bytes %.20q, want %d bytes %.20q", i, len(got[i]), got[i], len(payloads[i]), payloads[i])
		}
	}
}

func testSeveralHandlers(t *testing.T, newBus NewBus) {
	b := newBus(t)
	var in1, in2, in3, other Inbox
	Subscribe(t, b, "room", &in1)
	Subscribe(t, b, "room", &in2)
	Subscribe(t, b, "room", &in3)
	Subscribe(t, b, "room-2", &other)
	Publish(t, b, "room", "a")
	Publish(t, b, "room", "b")
	Publish(t, b, "room-2", "only-2")
	for i, in := range []*Inbox{&in1, &in2, &in3} {
		if got := in.WaitLen(t, 2); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("handler %d got %q", i, got)
		}
	}
	if got := other.WaitLen(t, 1); !slices.Equal(got, []string{"only-2"}) {
		t.Errorf("other topic got %q: topics leak into each other", got)
	}
}

// testUnsubscribe checks that a closed subscription receives nothing. It
// cannot wait for "nothing", so it uses a second handler on the same topic
// as a barrier: once that one has seen an event, the closed one would have
// seen it too.
func testUnsubscribe(t *testing.T, newBus NewBus) {
	b := newBus(t)
	var gone, barrier Inbox
	sub := Subscribe(t, b, "t", &gone)
	Subscribe(t, b, "t", &barrier)
	Publish(t, b, "t", "before")
	gone.WaitLen(t, 1)
	if err := sub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	Publish(t, b, "t", "after")
	Publish(t, b, "t", "after-2")
	barrier.WaitLen(t, 3)
	if got := gone.Got(); !slices.Equal(got, []string{"before"}) {
		t.Fatalf("closed subscription got %q", got)
	}

	// The last handler of a topic leaving and a new one arriving must work
	// (the backend unsubscribes and subscribes again).
	var solo Inbox
	for round := range 3 {
		s := Subscribe(t, b, "solo", &solo)
		msg := fmt.Sprint("round-", round)
		Publish(t, b, "solo", msg)
		if got := solo.WaitLen(t, round+1); got[round] != msg {
			t.Fatalf("round %d got %q", round, got)
		}
		_ = s.Close()
	}
	Publish(t, b, "solo", "nobody listens") // no subscriber: no error, no panic
}

// testUnsubscribeDropsQueued closes a subscription while events for it are
// already queued behind a slow handler: none of them may reach it.
func testUnsubscribeDropsQueued(t *testing.T, newBus NewBus) {
	b := newBus(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var slow, victim Inbox
	_, err := b.Subscribe(context.Background(), "q", func(topic string, p []byte) {
		once.Do(func() { close(entered); <-release })
		slow.Handler()(topic, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	sub := Subscribe(t, b, "q", &victim)
	Publish(t, b, "q", "1")
	<-entered // event 1 is being delivered; the slow handler holds it
	Publish(t, b, "q", "2")
	Publish(t, b, "q", "3")
	_ = sub.Close()
	close(release)
	slow.WaitLen(t, 1)
	// Events 2 and 3 may still be in flight from the backend: publish a
	// last one and wait for it, so everything before it has been handled.
	Publish(t, b, "q", "4")
	slow.WaitLen(t, 4)
	if got := victim.Got(); len(got) != 0 {
		t.Fatalf("closed subscription got %q", got)
	}
}

func testOrder(t *testing.T, newBus NewBus) {
	a, b := newBus(t), newBus(t)
	const n = 300
	var onA, onB Inbox
	Subscribe(t, a, "ordered", &onA)
	Subscribe(t, b, "ordered", &onB)
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprint(i)
		Publish(t, a, "ordered", want[i])
	}
	for name, in := range map[string]*Inbox{"same node": &onA, "other node": &onB} {
		if got := in.WaitLen(t, n); !slices.Equal(got, want) {
			t.Errorf("%s: events out of order or duplicated:\n%v", name, got)
		}
	}
}

func testConcurrentPublishers(t *testing.T, newBus NewBus) {
	a, b := newBus(t), newBus(t)
	const publishers, each = 4, 50
	var in Inbox
	Subscribe(t, b, "busy", &in)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				if err := a.Publish(context.Background(), "busy", fmt.Appendf(nil, "%d:%d", p, i)); err != nil {
					t.Errorf("publisher %d: %v", p, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := in.WaitLen(t, publishers*each)
	next := make([]int, publishers) // order is promised per publisher only
	for _, m := range got {
		var p, i int
		if _, err := fmt.Sscanf(m, "%d:%d", &p, &i); err != nil || p >= publishers || i != next[p] {
			t.Fatalf("event %q out of order (next expected from publisher %d: %d)", m, p, next[p])
		}
		next[p]++
	}
}

func testAcrossNodes(t *testing.T, newBus NewBus) {
	a, b, c := newBus(t), newBus(t), newBus(t)
	var onB, onC Inbox
	Subscribe(t, b, pubsub.UserTopic("u1"), &onB)
	Subscribe(t, c, pubsub.TopicControl, &onC)
	Publish(t, a, pubsub.UserTopic("u1"), "for-u1")
	Publish(t, a, pubsub.TopicControl, "revoke")
	if got := onB.WaitLen(t, 1); !slices.Equal(got, []string{"for-u1"}) {
		t.Errorf("node b got %q", got)
	}
	if got := onC.WaitLen(t, 1); !slices.Equal(got, []string{"revoke"}) {
		t.Errorf("node c got %q", got)
	}
}

// testReentrantHandler checks that a handler may publish, subscribe and
// close its own subscription without deadlocking the bus, as chat's control
// handler does when it closes a revoked session.
func testReentrantHandler(t *testing.T, newBus NewBus) {
	b := newBus(t)
	ctx := context.Background()
	var echoed, late Inbox
	Subscribe(t, b, "echo", &echoed)
	var self pubsub.Subscription
	var once sync.Once
	ready := make(chan struct{})
	self, err := b.Subscribe(ctx, "ping", func(_ string, p []byte) {
		<-ready
		once.Do(func() {
			if err := b.Publish(ctx, "echo", p); err != nil {
				t.Errorf("publish from handler: %v", err)
			}
			if _, err := b.Subscribe(ctx, "late", late.Handler()); err != nil {
				t.Errorf("subscribe from handler: %v", err)
			}
			if err := self.Close(); err != nil {
				t.Errorf("close from handler: %v", err)
			}
		})
	})
	close(ready)
	if err != nil {
		t.Fatal(err)
	}
	Publish(t, b, "ping", "x")
	echoed.WaitLen(t, 1)
	WaitFor(t, "late subscription", func() bool {
		_ = b.Publish(ctx, "late", []byte("y"))
		return len(late.Got()) > 0
	})
}

func testPubSubBadInput(t *testing.T, newBus NewBus) {
	b := newBus(t)
	ctx := context.Background()
	if err := b.Publish(ctx, "", []byte("x")); !errors.Is(err, local.ErrInvalid) {
		t.Errorf("Publish to empty topic: %v, want ErrInvalid", err)
	}
	if _, err := b.Subscribe(ctx, "", new(Inbox).Handler()); !errors.Is(err, local.ErrInvalid) {
		t.Errorf("Subscribe to empty topic: %v, want ErrInvalid", err)
	}
	if _, err := b.Subscribe(ctx, "t", nil); !errors.Is(err, local.ErrInvalid) {
		t.Errorf("Subscribe with nil handler: %v, want ErrInvalid", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Publish(done, "t", []byte("x")); err == nil {
		t.Error("Publish with a cancelled context succeeded")
	}
	// Odd but valid topic names travel unharmed.
	var in Inbox
	weird := "user:@a:b.example/ü *?[x]"
	Subscribe(t, b, weird, &in)
	Publish(t, b, weird, "ok")
	in.WaitLen(t, 1)
}

func testClose(t *testing.T, newBus NewBus) {
	b := newBus(t)
	ctx := context.Background()
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	var in Inbox
	sub := Subscribe(t, b, "t", &in)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := sub.Close(); err != nil {
		t.Errorf("Subscription.Close after Bus.Close: %v", err)
	}
	checks := map[string]error{
		"Publish": b.Publish(ctx, "t", nil),
		"Ping":    b.Ping(ctx),
	}
	_, checks["Subscribe"] = b.Subscribe(ctx, "t", in.Handler())
	_, checks["Connect"] = b.Presence().Connect(ctx, "u")
	_, checks["Online"] = b.Presence().Online(ctx, []string{"u"})
	_, checks["TryLease"] = lockerOf(t, b).TryLease(ctx, "job", 1e9)
	for op, err := range checks {
		if !errors.Is(err, local.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", op, err)
		}
	}
	if s := strings.Join(in.Got(), ","); s != "" {
		t.Errorf("closed bus delivered %q", s)
	}
}
