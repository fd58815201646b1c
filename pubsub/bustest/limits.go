package bustest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
)

func runLimiter(t *testing.T, newBus NewBus) {
	t.Run("SharedBudget", func(t *testing.T) { testSharedBudget(t, newBus) })
	t.Run("NoBurstAtWindowEdge", func(t *testing.T) { testNoEdgeBurst(t, newBus) })
	t.Run("CheckCountsNothing", func(t *testing.T) { testCheck(t, newBus) })
	t.Run("Refills", func(t *testing.T) { testRefills(t, newBus) })
	t.Run("BadInput", func(t *testing.T) { testLimiterBadInput(t, newBus) })
}

func allow(t *testing.T, l pubsub.Limiter, key string, limit int, window time.Duration) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := l.Allow(context.Background(), key, limit, window)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return ok, retry
}

func check(t *testing.T, l pubsub.Limiter, key string, limit int, window time.Duration) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := l.Check(context.Background(), key, limit, window)
	if err != nil {
		t.Fatalf("Check(%q): %v", key, err)
	}
	return ok, retry
}

func testSharedBudget(t *testing.T, newBus NewBus) {
	a, b := limiterOf(t, newBus(t)), limiterOf(t, newBus(t))
	const window = time.Minute
	// Hits from two nodes count against one shared bucket.
	for i, l := range []pubsub.Limiter{a, b, a} {
		if ok, retry := allow(t, l, "login:1.2.3.4", 3, window); !ok || retry != 0 {
			t.Fatalf("hit %d refused (retryAfter %s)", i+1, retry)
		}
	}
	for _, l := range []pubsub.Limiter{b, a} {
		ok, retry := allow(t, l, "login:1.2.3.4", 3, window)
		if ok {
			t.Fatal("hit over the limit allowed")
		}
		// The next token comes one interval (window/limit) after the burst.
		if retry <= 0 || retry > window/3 {
			t.Fatalf("retryAfter = %s, want within (0, %s]", retry, window/3)
		}
	}
	if ok, _ := allow(t, b, "login:5.6.7.8", 3, window); !ok {
		t.Fatal("another key shares the exhausted budget")
	}
}

// testNoEdgeBurst: once the bucket is empty, waiting for one token gives
// one hit, never a fresh budget (a fixed window lets 2x the limit through
// around its edge).
func testNoEdgeBurst(t *testing.T, newBus NewBus) {
	l := limiterOf(t, newBus(t))
	const limit, window = 3, 3 * time.Second // a token a second
	for range limit {
		if ok, _ := allow(t, l, "edge", limit, window); !ok {
			t.Fatal("burst refused")
		}
	}
	WaitFor(t, "one token to come back", func() bool {
		ok, _ := allow(t, l, "edge", limit, window)
		return ok
	})
	if ok, retry := allow(t, l, "edge", limit, window); ok || retry <= 0 {
		t.Fatalf("second hit right after a refill: ok=%v retryAfter=%s, want refused", ok, retry)
	}
}

func testCheck(t *testing.T, newBus NewBus) {
	a, b := limiterOf(t, newBus(t)), limiterOf(t, newBus(t))
	for range 5 {
		if ok, retry := check(t, a, "fail:bob", 2, time.Minute); !ok || retry != 0 {
			t.Fatalf("Check on a fresh key = %v, %s", ok, retry)
		}
	}
	for range 2 {
		if ok, _ := allow(t, b, "fail:bob", 2, time.Minute); !ok {
			t.Fatal("Check took tokens")
		}
	}
	if ok, retry := check(t, a, "fail:bob", 2, time.Minute); ok || retry <= 0 || retry > 30*time.Second {
		t.Fatalf("Check on an empty bucket = %v, %s; want refused within 30s", ok, retry)
	}
	if ok, _ := allow(t, b, "fail:bob", 2, time.Minute); ok {
		t.Fatal("a refused Check gave a token back")
	}
}

func testRefills(t *testing.T, newBus NewBus) {
	l := limiterOf(t, newBus(t))
	if ok, _ := allow(t, l, "short", 1, 50*time.Millisecond); !ok {
		t.Fatal("first hit refused")
	}
	if ok, _ := allow(t, l, "short", 1, 50*time.Millisecond); ok {
		t.Fatal("second hit in the window allowed")
	}
	WaitFor(t, "the bucket to refill", func() bool {
		ok, _ := allow(t, l, "short", 1, 50*time.Millisecond)
		return ok
	})
}

func testLimiterBadInput(t *testing.T, newBus NewBus) {
	l := limiterOf(t, newBus(t))
	cases := []struct {
		key    string
		limit  int
		window time.Duration
	}{
		{"", 1, time.Second},
		{"k", 0, time.Second},
		{"k", -5, time.Second},
		{"k", 1, 0},
		{"k", 1, -time.Second},
		{"k", 1, time.Microsecond},
	}
	for _, c := range cases {
		ok, _, err := l.Allow(context.Background(), c.key, c.limit, c.window)
		if !errors.Is(err, local.ErrInvalid) || ok {
			t.Errorf("Allow(%q, %d, %s) = %v, %v; want refused with ErrInvalid", c.key, c.limit, c.window, ok, err)
		}
		ok, _, err = l.Check(context.Background(), c.key, c.limit, c.window)
		if !errors.Is(err, local.ErrInvalid) || ok {
			t.Errorf("Check(%q, %d, %s) = %v, %v; want refused with ErrInvalid", c.key, c.limit, c.window, ok, err)
		}
	}
}

func runLocker(t *testing.T, newBus NewBus) {
	t.Run("MutualExclusion", func(t *testing.T) { testMutualExclusion(t, newBus) })
	t.Run("TakeoverAfterExpiry", func(t *testing.T) { testTakeover(t, newBus) })
	t.Run("BadInput", func(t *testing.T) { testLockerBadInput(t, newBus) })
}

func tryLease(t *testing.T, l pubsub.Locker, name string, ttl time.Duration) bool {
	t.Helper()
	ok, err := l.TryLease(context.Background(), name, ttl)
	if err != nil {
		t.Fatalf("TryLease(%q): %v", name, err)
	}
	return ok
}

func testMutualExclusion(t *testing.T, newBus NewBus) {
	a, b := lockerOf(t, newBus(t)), lockerOf(t, newBus(t))
	if !tryLease(t, a, "purge", time.Minute) {
		t.Fatal("free lease refused")
	}
	if !tryLease(t, a, "purge", time.Minute) {
		t.Fatal("holder could not renew")
	}
	if tryLease(t, b, "purge", time.Minute) {
		t.Fatal("two nodes hold one lease")
	}
	if !tryLease(t, b, "federation:example.org", time.Minute) {
		t.Fatal("another lease name is blocked")
	}
	if tryLease(t, a, "federation:example.org", time.Minute) {
		t.Fatal("two nodes hold the second lease")
	}
}

func testTakeover(t *testing.T, newBus NewBus) {
	a, b := lockerOf(t, newBus(t)), lockerOf(t, newBus(t))
	const ttl = 100 * time.Millisecond
	if !tryLease(t, a, "job", ttl) {
		t.Fatal("free lease refused")
	}
	// a stops renewing: b gets the lease once it expires, and then a
	// cannot take it back while b renews.
	WaitFor(t, "takeover of an expired lease", func() bool { return tryLease(t, b, "job", time.Minute) })
	if tryLease(t, a, "job", ttl) {
		t.Fatal("former holder took the lease back from a live holder")
	}
}

func testLockerBadInput(t *testing.T, newBus NewBus) {
	l := lockerOf(t, newBus(t))
	for _, c := range []struct {
		name string
		ttl  time.Duration
	}{{"", time.Second}, {"job", 0}, {"job", -time.Second}, {"job", time.Microsecond}} {
		ok, err := l.TryLease(context.Background(), c.name, c.ttl)
		if !errors.Is(err, local.ErrInvalid) || ok {
			t.Errorf("TryLease(%q, %s) = %v, %v; want refused with ErrInvalid", c.name, c.ttl, ok, err)
		}
	}
}
