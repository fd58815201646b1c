package local

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/crypttalk/crypttalk/pubsub"
)

// sweepEvery is how often an expiring map drops its dead entries, so keys
// that are never used again (one rate-limit key per client address) do not
// pile up.
const sweepEvery = time.Minute

// expiring is a map whose entries carry a deadline. Callers hold their own
// lock around it.
type expiring[V any] struct {
	m         map[string]expEntry[V]
	nextSweep time.Time
}

type expEntry[V any] struct {
	val   V
	until time.Time
}

// get returns the live entry for key, sweeping the map when a sweep is due.
func (e *expiring[V]) get(key string, now time.Time) (V, time.Time, bool) {
	if e.m == nil {
		e.m = make(map[string]expEntry[V])
	}
	if !now.Before(e.nextSweep) {
		for k, v := range e.m {
			if !now.Before(v.until) {
				delete(e.m, k)
			}
		}
		e.nextSweep = now.Add(sweepEvery)
	}
	v, ok := e.m[key]
	if !ok || !now.Before(v.until) {
		var zero V
		return zero, time.Time{}, false
	}
	return v.val, v.until, true
}

func (e *expiring[V]) put(key string, v V, until time.Time) {
	e.m[key] = expEntry[V]{val: v, until: until}
}

func (e *expiring[V]) len() int { return len(e.m) }

// limiterShards spreads rate-limit keys over several locks; every request
// of the server goes through Allow.
const limiterShards = 16

// limiter is a token bucket per key in memory (golang.org/x/time/rate, as
// ntfy's visitor limits are): limit tokens at most, one more every
// window/limit. A bucket left alone for a whole window is full again, the
// state of a bucket never seen, so it is dropped then.
type limiter struct {
	now    func() time.Time
	shards [limiterShards]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets expiring[*rate.Limiter]
}

func newLimiter(now func() time.Time) *limiter { return &limiter{now: now} }

// NewLimiter returns an in-memory pubsub.Limiter for one node: the
// limiter of the in-process bus, and the fallback that pubsub/redis counts
// on while Redis is unreachable.
func NewLimiter(now func() time.Time) pubsub.Limiter {
	if now == nil {
		now = time.Now
	}
	return newLimiter(now)
}

func (l *limiter) shardOf(key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % limiterShards)
}

// Allow implements pubsub.Limiter.
func (l *limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	return l.take(ctx, key, limit, window, true)
}

// Check implements pubsub.Limiter.
func (l *limiter) Check(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	return l.take(ctx, key, limit, window, false)
}

// take looks at key's bucket and, when count is set and a token is there,
// takes it.
func (l *limiter) take(ctx context.Context, key string, limit int, window time.Duration, count bool) (bool, time.Duration, error) {
	if err := CheckLimit(key, limit, window); err != nil {
		return false, 0, err
	}
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	every := max(window/time.Duration(limit), time.Nanosecond)
	s := &l.shards[l.shardOf(key)]
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _, ok := s.buckets.get(key, now)
	if !ok {
		b = rate.NewLimiter(rate.Every(every), limit) // full
	} else if b.Burst() != limit || b.Limit() != rate.Every(every) {
		b.SetLimitAt(now, rate.Every(every))
		b.SetBurstAt(now, limit)
	}
	tokens := b.TokensAt(now)
	if tokens < 1 {
		s.buckets.put(key, b, now.Add(window))
		return false, max(time.Duration((1-tokens)*float64(every)), time.Millisecond), nil
	}
	if count {
		b.AllowN(now, 1)
		s.buckets.put(key, b, now.Add(window))
	}
	return true, 0, nil
}

// leases hands out named leases to the nodes of one hub.
type leases struct {
	now func() time.Time
	mu  sync.Mutex
	m   expiring[uint64] // lease name -> holder node id
}

// try acquires or renews name for node and reports whether node holds it.
func (l *leases) try(node uint64, name string, ttl time.Duration) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	holder, _, held := l.m.get(name, now)
	if held && holder != node {
		return false
	}
	l.m.put(name, node, now.Add(ttl))
	return true
}

// locker is one node's view of the hub's leases.
type locker struct{ b *Bus }

// TryLease implements pubsub.Locker.
func (l locker) TryLease(ctx context.Context, name string, ttl time.Duration) (bool, error) {
	if err := CheckLease(name, ttl); err != nil {
		return false, err
	}
	if err := l.b.usable(ctx); err != nil {
		return false, err
	}
	return l.b.hub.leases.try(l.b.id, name, ttl), nil
}
