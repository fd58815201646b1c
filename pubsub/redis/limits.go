package redis

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
)

// redisRetry is how long the limiter counts on this node alone after
// Redis failed, before it asks Redis again: a partitioned Redis costs one
// timeout a second, not one per request.
const redisRetry = time.Second

// limitState is the part of a Bus behind its Limiter: the node's own
// buckets for outages, and when Redis may be asked again.
type limitState struct {
	once     sync.Once
	fallback pubsub.Limiter
	downTill atomic.Int64 // unix ns; 0 while Redis answers
}

func (st *limitState) local() pubsub.Limiter {
	st.once.Do(func() { st.fallback = local.NewLimiter(time.Now) })
	return st.fallback
}

// limiter is a GCRA token bucket per key shared by every node on one
// Redis (lua/limit.lua), with this node's in-memory buckets standing in
// while Redis is unreachable, so that no limit ever fails open.
type limiter struct{ b *Bus }

// Allow implements pubsub.Limiter.
func (l limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	return l.run(ctx, key, limit, window, true)
}

// Check implements pubsub.Limiter.
func (l limiter) Check(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	return l.run(ctx, key, limit, window, false)
}

func (l limiter) run(ctx context.Context, key string, limit int, window time.Duration, count bool) (bool, time.Duration, error) {
	if err := local.CheckLimit(key, limit, window); err != nil {
		return false, 0, err
	}
	if err := l.b.usable(ctx); err != nil {
		return false, 0, err
	}
	st := &l.b.limits
	if till := st.downTill.Load(); till != 0 && time.Now().UnixNano() < till {
		return l.fallback(ctx, key, limit, window, count)
	}
	cost := 0
	if count {
		cost = 1
	}
	res, err := limitScript.Run(ctx, l.b.client, []string{l.b.keys.limitPrefix + key}, limit, window.Milliseconds(), cost).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err != nil {
		if ctx.Err() != nil {
			return false, 0, ctx.Err()
		}
		if st.downTill.Swap(time.Now().Add(redisRetry).UnixNano()) == 0 {
			l.b.log.Warn("rate limits: Redis unreachable, counting on this node alone", "err", err)
		}
		return l.fallback(ctx, key, limit, window, count)
	}
	if st.downTill.Swap(0) != 0 {
		l.b.log.Info("rate limits: Redis reachable again, counting cluster-wide")
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	return false, time.Duration(max(res[1], 1)) * time.Millisecond, nil
}

func (l limiter) fallback(ctx context.Context, key string, limit int, window time.Duration, count bool) (bool, time.Duration, error) {
	if count {
		return l.b.limits.local().Allow(ctx, key, limit, window)
	}
	return l.b.limits.local().Check(ctx, key, limit, window)
}

// locker hands out leases stored in Redis with this node's id as value.
type locker struct{ b *Bus }

// TryLease implements pubsub.Locker: SET NX PX when the lease is free,
// PEXPIRE when this node holds it, in one script so a node whose lease
// already passed to another cannot extend the new holder's.
func (l locker) TryLease(ctx context.Context, name string, ttl time.Duration) (bool, error) {
	if err := local.CheckLease(name, ttl); err != nil {
		return false, err
	}
	if err := l.b.usable(ctx); err != nil {
		return false, err
	}
	held, err := leaseScript.Run(ctx, l.b.client, []string{l.b.keys.leasePrefix + name},
		l.b.opts.NodeID, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("lease %q: %w", name, err)
	}
	return held == 1, nil
}
