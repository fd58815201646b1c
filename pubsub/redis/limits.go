package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/crypttalk/crypttalk/pubsub/local"
)

// limiter is a fixed-window rate limiter shared by every node on one Redis.
type limiter struct{ b *Bus }

// Allow implements pubsub.Limiter with one atomic script (INCR, PEXPIRE on
// the first hit, PTTL), so concurrent hits from several nodes are counted
// exactly.
func (l limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if err := local.CheckLimit(key, limit, window); err != nil {
		return false, 0, err
	}
	if err := l.b.usable(ctx); err != nil {
		return false, 0, err
	}
	res, err := limitScript.Run(ctx, l.b.client, []string{l.b.keys.limitPrefix + key}, window.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("rate limit: unexpected reply %v", res)
	}
	if res[0] <= int64(limit) {
		return true, 0, nil
	}
	return false, time.Duration(max(res[1], 1)) * time.Millisecond, nil
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
