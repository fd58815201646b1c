package local

import (
	"context"
	"hash/fnv"
	"sync"
	"time"
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

// limiter counts hits in fixed windows in memory. A window starts at the
// first hit of a key, as with Redis INCR + PEXPIRE, so both backends behave
// alike.
type limiter struct {
	now    func() time.Time
	shards [limiterShards]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	windows expiring[int]
}

func newLimiter(now func() time.Time) *limiter { return &limiter{now: now} }

func (l *limiter) shardOf(key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % limiterShards)
}

// Allow implements pubsub.Limiter.
func (l *limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if err := CheckLimit(key, limit, window); err != nil {
		return false, 0, err
	}
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	s := &l.shards[l.shardOf(key)]
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n, reset, ok := s.windows.get(key, now)
	if !ok {
		reset = now.Add(window)
	}
	n++
	s.windows.put(key, n, reset)
	if n <= limit {
		return true, 0, nil
	}
	return false, reset.Sub(now), nil
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
