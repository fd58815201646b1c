// Package local is the in-process pubsub.Bus of a single node (the default
// when no Redis is configured).
//
// A Hub holds what the nodes of a cluster share (topics, presence, rate
// limits, leases); Hub.Node returns one node's Bus. Production uses New,
// a hub of one node; tests use several nodes of one hub to run the
// multi-node conformance suite without Redis.
package local

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crypttalk/crypttalk/pubsub"
)

// Hub is an in-process cluster: events published on one of its nodes reach
// the subscribers of every node, and presence, limits and leases are shared.
type Hub struct {
	mu       sync.RWMutex
	nodes    map[uint64]*Bus
	nextID   atomic.Uint64
	presence *presenceTable
	limiter  *limiter
	leases   leases
	// nodeTable is the node registry (registry.go); its map is made on
	// first use under its lock.
	nodeTable nodeTable
}

// NewHub returns an empty in-process cluster.
func NewHub() *Hub {
	return &Hub{
		nodes:    make(map[uint64]*Bus),
		presence: newPresenceTable(),
		limiter:  newLimiter(time.Now),
		leases:   leases{now: time.Now},
	}
}

// Node starts a new node of the hub.
func (h *Hub) Node() *Bus {
	b := &Bus{hub: h, id: h.nextID.Add(1), fan: NewFanout()}
	h.mu.Lock()
	h.nodes[b.id] = b
	h.mu.Unlock()
	return b
}

// New returns the Bus of a single-node hub.
func New() *Bus { return NewHub().Node() }

// Bus is one node of a Hub; it implements pubsub.Bus.
//
// Events are delivered on the node's own goroutines (one per topic shard),
// never on the publisher's, as with the Redis backend: Publish returns
// before handlers run.
type Bus struct {
	hub    *Hub
	id     uint64
	fan    *Fanout
	closed atomic.Bool
}

var _ pubsub.Bus = (*Bus)(nil)

// Publish implements pubsub.Bus. The payload is copied, so the caller may
// reuse its buffer.
func (b *Bus) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := CheckTopic(topic); err != nil {
		return err
	}
	if err := b.usable(ctx); err != nil {
		return err
	}
	p := bytes.Clone(payload)
	b.hub.mu.RLock()
	defer b.hub.mu.RUnlock()
	for _, n := range b.hub.nodes {
		n.fan.Deliver(topic, p)
	}
	return nil
}

// Subscribe implements pubsub.Bus.
func (b *Bus) Subscribe(ctx context.Context, topic string, h pubsub.Handler) (pubsub.Subscription, error) {
	if err := CheckSubscribe(topic, h); err != nil {
		return nil, err
	}
	if err := b.usable(ctx); err != nil {
		return nil, err
	}
	handle, _ := b.fan.Add(topic, h)
	return subscription{fan: b.fan, h: handle}, nil
}

type subscription struct {
	fan *Fanout
	h   *Handle
}

// Close implements pubsub.Subscription; it is idempotent.
func (s subscription) Close() error {
	s.fan.Remove(s.h)
	return nil
}

// Presence implements pubsub.Bus.
func (b *Bus) Presence() pubsub.Presence { return presence{b: b} }

// Limiter returns the hub's rate limiter, shared by all its nodes.
func (b *Bus) Limiter() pubsub.Limiter { return b.hub.limiter }

// Locker returns this node's view of the hub's leases. With a single node
// it always grants, which is what a single-node server needs.
func (b *Bus) Locker() pubsub.Locker { return locker{b: b} }

// Ping implements pubsub.Bus: an in-process bus is reachable until closed.
func (b *Bus) Ping(ctx context.Context) error { return b.usable(ctx) }

// Close implements pubsub.Bus. The node leaves the hub, its users'
// connections are forgotten (as when a Redis node stops heartbeating) and
// its handlers stop. Leases it holds expire on their own. Close is
// idempotent and must not be called from a handler.
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.hub.mu.Lock()
	delete(b.hub.nodes, b.id)
	b.hub.mu.Unlock()
	b.hub.presence.dropNode(b.id)
	b.fan.Close()
	return nil
}

func (b *Bus) usable(ctx context.Context) error {
	if b.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}
