package local

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// fakeClock is a settable time source.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestLimiterTokenBucketAndSweep(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	l := newLimiter(clock.now)
	ctx := context.Background()
	hit := func(want bool, wantRetry time.Duration) {
		t.Helper()
		ok, retry, err := l.Allow(ctx, "k", 3, time.Minute)
		if err != nil || ok != want || retry != wantRetry {
			t.Fatalf("Allow = %v, %s, %v; want %v, %s", ok, retry, err, want, wantRetry)
		}
	}
	for range 3 {
		hit(true, 0)
	}
	hit(false, 20*time.Second) // one token every 60s/3
	clock.t = clock.t.Add(10 * time.Second)
	hit(false, 10*time.Second)
	// Checking costs nothing and does not refill.
	if ok, retry, _ := l.Check(ctx, "k", 3, time.Minute); ok || retry != 10*time.Second {
		t.Fatalf("Check = %v, %s; want refused for 10s", ok, retry)
	}
	clock.t = clock.t.Add(10 * time.Second)
	// One token is back, not a whole new window: a fixed window would let
	// three more through here.
	hit(true, 0)
	hit(false, 20*time.Second)
	clock.t = clock.t.Add(time.Minute)
	for range 3 {
		if ok, _, _ := l.Check(ctx, "k", 3, time.Minute); !ok {
			t.Fatal("Check refused on a full bucket")
		}
	}
	for range 3 {
		hit(true, 0)
	}
	hit(false, 20*time.Second)
	for i := range 500 {
		_, _, _ = l.Allow(ctx, fmt.Sprint("client-", i), 10, time.Second)
	}
	clock.t = clock.t.Add(sweepEvery + time.Minute)
	for i := range limiterShards { // touch every shard so each one sweeps
		for j := 0; ; j++ {
			key := fmt.Sprint("probe-", j)
			if l.shardOf(key) == i {
				_, _, _ = l.Allow(ctx, key, 1, time.Hour)
				break
			}
		}
	}
	total := 0
	for i := range l.shards {
		total += l.shards[i].buckets.len()
	}
	if total != limiterShards {
		t.Fatalf("%d buckets kept after they all refilled, want only the %d probes", total, limiterShards)
	}
}

func TestLeasesExpire(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	ls := leases{now: clock.now}
	if !ls.try(1, "job", time.Second) || ls.try(2, "job", time.Second) {
		t.Fatal("lease not exclusive")
	}
	clock.t = clock.t.Add(999 * time.Millisecond)
	if !ls.try(1, "job", time.Second) {
		t.Fatal("holder could not renew")
	}
	clock.t = clock.t.Add(999 * time.Millisecond)
	if ls.try(2, "job", time.Second) {
		t.Fatal("renewed lease taken over before its new expiry")
	}
	clock.t = clock.t.Add(time.Millisecond)
	if !ls.try(2, "job", time.Second) {
		t.Fatal("expired lease not taken over")
	}
}

func TestFanoutBookkeeping(t *testing.T) {
	f := NewFanout()
	nop := func(string, []byte) {}
	h1, first := f.Add("a", nop)
	if !first {
		t.Fatal("first handler not reported as first")
	}
	h2, first := f.Add("a", nop)
	if first {
		t.Fatal("second handler reported as first")
	}
	f.Add("b", nop)
	if got := f.Topics(); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"a", "b"}) {
		t.Fatalf("Topics() = %v", got)
	}
	if f.Remove(h1) || f.Remove(h1) {
		t.Fatal("removing one of two handlers reported last")
	}
	if !f.Remove(h2) || f.Remove(h2) {
		t.Fatal("last handler not reported once")
	}
	if f.Deliver("a", nil) {
		t.Fatal("delivered to a topic without handlers")
	}
	if !f.Deliver("b", nil) {
		t.Fatal("no delivery to a topic with a handler")
	}
	f.Close()
	f.Close()
	if f.Deliver("b", nil) {
		t.Fatal("delivered after Close")
	}
}
