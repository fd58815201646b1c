// Package bustest is the conformance suite every pubsub.Bus implementation
// runs from its own tests, so that the in-process and the Redis backends are
// held to one contract (see pubsub/bus.go).
package bustest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/pubsub"
)

// waitLimit bounds every poll of the suite; it is a failure deadline, not
// an expected duration.
const waitLimit = 10 * time.Second

// NewBus starts one node of a cluster. Every call with the same t must
// return a new node of the same cluster (sharing topics, presence, rate
// limits and leases); calls with different t's must return independent
// clusters, so subtests cannot see each other's state. The factory closes
// its nodes in t.Cleanup; the suite may close them earlier, so Close must be
// idempotent.
type NewBus func(t *testing.T) pubsub.Bus

// LimiterProvider is implemented by buses that expose their pubsub.Limiter.
type LimiterProvider interface{ Limiter() pubsub.Limiter }

// LockerProvider is implemented by buses that expose their pubsub.Locker.
type LockerProvider interface{ Locker() pubsub.Locker }

// Run runs the whole suite against newBus.
func Run(t *testing.T, newBus NewBus) {
	t.Run("PubSub", func(t *testing.T) { runPubSub(t, newBus) })
	t.Run("Presence", func(t *testing.T) { runPresence(t, newBus) })
	t.Run("Limiter", func(t *testing.T) { runLimiter(t, newBus) })
	t.Run("Locker", func(t *testing.T) { runLocker(t, newBus) })
	t.Run("Registry", func(t *testing.T) { runRegistry(t, newBus) })
}

// WaitFor polls cond until it holds and fails the test when it does not
// within the suite's deadline.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitLimit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Inbox records the events a handler receives.
type Inbox struct {
	mu  sync.Mutex
	got []string
}

// Handler returns a pubsub.Handler that appends each payload to the inbox.
func (in *Inbox) Handler() pubsub.Handler {
	return func(_ string, payload []byte) {
		in.mu.Lock()
		in.got = append(in.got, string(payload))
		in.mu.Unlock()
	}
}

// Got returns a copy of the payloads received so far, in order.
func (in *Inbox) Got() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.got...)
}

// WaitLen waits until the inbox holds at least n payloads and returns them.
func (in *Inbox) WaitLen(t testing.TB, n int) []string {
	t.Helper()
	WaitFor(t, fmt.Sprintf("%d events", n), func() bool { return len(in.Got()) >= n })
	return in.Got()
}

// Subscribe subscribes in to topic on b and fails the test on error.
func Subscribe(t testing.TB, b pubsub.Bus, topic string, in *Inbox) pubsub.Subscription {
	t.Helper()
	sub, err := b.Subscribe(context.Background(), topic, in.Handler())
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", topic, err)
	}
	return sub
}

// Publish publishes payload and fails the test on error.
func Publish(t testing.TB, b pubsub.Bus, topic, payload string) {
	t.Helper()
	if err := b.Publish(context.Background(), topic, []byte(payload)); err != nil {
		t.Fatalf("Publish(%q, %q): %v", topic, payload, err)
	}
}

func limiterOf(t *testing.T, b pubsub.Bus) pubsub.Limiter {
	t.Helper()
	p, ok := b.(LimiterProvider)
	if !ok {
		t.Fatalf("%T has no Limiter() method", b)
	}
	return p.Limiter()
}

func lockerOf(t *testing.T, b pubsub.Bus) pubsub.Locker {
	t.Helper()
	p, ok := b.(LockerProvider)
	if !ok {
		t.Fatalf("%T has no Locker() method", b)
	}
	return p.Locker()
}
