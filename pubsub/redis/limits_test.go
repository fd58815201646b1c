package redis

import (
	"context"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/pubsub/bustest"
)

// TestLimiterFallsBackWhileRedisIsDown: with Redis gone the limiter counts
// on the node instead of letting everything through, and shares the budget
// through Redis again once it is back.
func TestLimiterFallsBackWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := newCluster(t, srv, Options{})
	a, b := c.node(t), c.node(t)
	ctx := context.Background()
	srv.Stop()
	for i := range 10 {
		ok, _, err := a.Limiter().Allow(ctx, "login:fail:bob", 10, time.Hour)
		if err != nil || !ok {
			t.Fatalf("hit %d during the outage: ok=%v err=%v", i+1, ok, err)
		}
	}
	ok, retry, err := a.Limiter().Allow(ctx, "login:fail:bob", 10, time.Hour)
	if err != nil || ok || retry <= 0 {
		t.Fatalf("11th hit during the outage: ok=%v retry=%s err=%v; want refused", ok, retry, err)
	}
	if ok, _, err := a.Limiter().Check(ctx, "login:fail:bob", 10, time.Hour); err != nil || ok {
		t.Fatalf("Check during the outage: ok=%v err=%v; want refused", ok, err)
	}
	srv.Start()
	// Back on Redis (the restarted Redis is empty): a and b share one bucket.
	bustest.WaitFor(t, "both limiters to use Redis again", func() bool {
		for _, n := range []*Bus{a, b} {
			if _, _, err := n.Limiter().Check(ctx, "shared", 1, time.Hour); err != nil || n.limits.downTill.Load() != 0 {
				return false
			}
		}
		return true
	})
	if ok, _, _ := a.Limiter().Allow(ctx, "shared", 1, time.Hour); !ok {
		t.Fatal("first hit after the outage refused")
	}
	if ok, _, _ := b.Limiter().Allow(ctx, "shared", 1, time.Hour); ok {
		t.Fatal("second node did not see the first node's hit: not counting on Redis")
	}
}
