package redis

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// stallSends makes b's SUBSCRIBE or UNSUBSCRIBE of channels ending in
// suffix hang until release is called (at the latest when the test ends,
// so a failing test does not hang in Close); entered gets one value per
// stalled command.
func stallSends(t *testing.T, b *Bus, subscribe bool, suffix string) (entered chan struct{}, release func()) {
	entered, gate := make(chan struct{}, 4), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	real := b.subs.send
	b.subs.mu.Lock() // orders the swap before the goroutines' next reads
	b.subs.send = func(ctx context.Context, ps *goredis.PubSub, sub bool, channels ...string) error {
		if sub == subscribe && len(channels) == 1 && strings.HasSuffix(channels[0], suffix) {
			entered <- struct{}{}
			<-gate
		}
		return real(ctx, ps, sub, channels...)
	}
	b.subs.mu.Unlock()
	return entered, release
}

// waitOrFail fails the test if done does not close in time; it is a
// hang detector, not a speed assertion.
func waitOrFail(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("%s hung behind a slow command for another topic", what)
	}
}

// One slow UNSUBSCRIBE or SUBSCRIBE holds up neither the receive loop nor
// other topics' subscriptions: the node-wide lock is never held across a
// round trip to Redis.
func TestSlowCommandStallsNoOtherTopic(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := newCluster(t, srv, Options{})
	b, pub := c.node(t), c.node(t)
	ctx := context.Background()

	got := make(chan string, 16)
	old, err := b.Subscribe(ctx, "old", func(string, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Subscribe(ctx, "live", func(_ string, p []byte) { got <- string(p) })
	if err != nil {
		t.Fatal(err)
	}

	entered, release := stallSends(t, b, false, "old")
	_ = old.Close()
	<-entered // UNSUBSCRIBE of "old" is on the wire, stuck

	// The receive loop still delivers, and a new topic is confirmed.
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := b.Subscribe(ctx, "fresh", func(string, []byte) {}); err != nil {
			t.Errorf("subscribe during a slow UNSUBSCRIBE: %v", err)
		}
	}()
	waitOrFail(t, done, "Subscribe")
	if err := pub.Publish(ctx, "live", []byte("one")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "one" {
			t.Fatalf("got %q", p)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the receive loop stalled behind a slow UNSUBSCRIBE")
	}
	release()

	// A slow SUBSCRIBE delays its own topic only.
	entered, release = stallSends(t, b, true, "slowtopic")
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		if _, err := b.Subscribe(ctx, "slowtopic", func(string, []byte) {}); err != nil {
			t.Errorf("slow subscribe: %v", err)
		}
	}()
	<-entered
	done = make(chan struct{})
	go func() {
		defer close(done)
		if _, err := b.Subscribe(ctx, "other", func(string, []byte) {}); err != nil {
			t.Errorf("subscribe during a slow SUBSCRIBE: %v", err)
		}
	}()
	waitOrFail(t, done, "Subscribe of another topic")
	release()
	waitOrFail(t, slowDone, "the slow Subscribe")
}

// Unsubscribe then subscribe again in quick succession, many times: the
// worker's recheck keeps the wire order right, so the topic ends
// subscribed and its events arrive.
func TestResubscribeRacesUnsubscribeWorker(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := newCluster(t, srv, Options{})
	b, pub := c.node(t), c.node(t)
	ctx := context.Background()
	for range 50 {
		sub, err := b.Subscribe(ctx, "flap", func(string, []byte) {})
		if err != nil {
			t.Fatal(err)
		}
		_ = sub.Close()
	}
	got := make(chan struct{}, 1)
	if _, err := b.Subscribe(ctx, "flap", func(string, []byte) {
		select {
		case got <- struct{}{}:
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	// The worker may still be going through the queued UNSUBSCRIBEs:
	// publish until one arrives.
	if !testenv.Poll(15*time.Second, func() bool {
		_ = pub.Publish(ctx, "flap", []byte("x"))
		select {
		case <-got:
			return true
		case <-time.After(20 * time.Millisecond):
			return false
		}
	}) {
		t.Fatal("a topic subscribed again after quick unsubscribes never got its events")
	}
	// Once the worker is done, Redis holds exactly this one subscription.
	a := admin(t, srv)
	if !testenv.Poll(15*time.Second, func() bool {
		n, err := a.PubSubNumSub(ctx, c.prefix+"topic:flap").Result()
		return err == nil && n[c.prefix+"topic:flap"] == 1
	}) {
		t.Fatal("Redis does not show exactly one subscriber of the topic")
	}
}
