// Package pubsub carries events between the nodes of one homeserver: per-user
// topics for fan-out, cluster-wide control messages and presence.
//
// Contract of every Bus implementation:
//   - Payloads are opaque bytes. chat publishes only sealed events (message
//     bodies encrypted by the vault); a Bus must never need plaintext.
//   - Delivery is at-most-once and best effort: an event published while a
//     subscriber's node is disconnected from the bus (e.g. Redis restarting)
//     is lost for live delivery. Durability comes from the store: clients
//     resume with `since` positions and get missed messages from there.
//   - Order is preserved per topic from one publisher; no order is promised
//     between topics or between publishers.
//   - A Subscription's handler runs on the bus's own goroutine for that
//     topic and must not block for long; handlers enqueue and return.
//   - On reconnect after an outage, implementations resubscribe every live
//     subscription by themselves and call the OnReconnect hooks so callers
//     can tell clients to resync.
package pubsub

import (
	"context"
	"time"
)

// Handler receives one event published on a topic.
type Handler func(topic string, payload []byte)

// Subscription is a live subscription; Close stops delivery to its handler.
type Subscription interface {
	Close() error
}

// Bus is the publish/subscribe transport between nodes.
type Bus interface {
	// Publish sends payload to every subscriber of topic on every node.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe registers h for topic. Implementations subscribe to the
	// backend once per topic per node, however many local handlers exist.
	Subscribe(ctx context.Context, topic string, h Handler) (Subscription, error)
	// Presence is the cluster-wide online state of users.
	Presence() Presence
	// Ping reports whether the bus backend is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the bus; subscriptions stop.
	Close() error
}

// Presence tracks which users have at least one live connection anywhere in
// the cluster. Each node reports its own connections; a node that stops
// heartbeating is forgotten after the implementation's TTL, taking its users
// offline.
type Presence interface {
	// Connect records one more connection of userID on this node and
	// reports whether the user was offline cluster-wide before.
	Connect(ctx context.Context, userID string) (wasOffline bool, err error)
	// Disconnect records one connection fewer and reports whether the user
	// is now offline cluster-wide.
	Disconnect(ctx context.Context, userID string) (nowOffline bool, err error)
	// Online reports, for each user id asked, whether it is online.
	Online(ctx context.Context, userIDs []string) (map[string]bool, error)
}

// Limiter is a rate limiter per key: a token bucket (GCRA on Redis) that
// holds at most limit tokens and gains one every window/limit. A burst of
// limit hits passes at once, a steady client gets limit per window, and
// there is no window edge at which twice the limit gets through.
//
// Contract of every implementation:
//   - Allow takes a token when one is there and reports ok; a refused hit
//     takes nothing. Check reports the same without taking a token (to
//     count only failed attempts: Check before, Allow after a failure).
//     retryAfter is how long until the next token, 0 when ok.
//   - The budget of a key is shared by every node of the cluster when the
//     backend can share it (Redis). It never fails open: while the shared
//     backend is unreachable an implementation counts on this node alone
//     (pubsub/redis falls back to pubsub/local's in-memory buckets), so a
//     limit still holds per node, and a cluster of N nodes lets at most N
//     times the limit through during the outage.
//   - Errors mean only invalid arguments (local.ErrInvalid), a closed bus
//     or a done context; callers refuse the request on any error.
//   - One key is always used with one limit and window; a change re-rates
//     the bucket from then on.
type Limiter interface {
	// Allow counts one hit on key if a token is there.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
	// Check reports whether a hit on key would be allowed now, counting
	// nothing.
	Check(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
}

// Locker hands out leases so that one node at a time runs a background job.
type Locker interface {
	// TryLease acquires or renews the lease name for this node for ttl and
	// reports whether this node holds it.
	TryLease(ctx context.Context, name string, ttl time.Duration) (bool, error)
}

// Well-known topics.
const (
	// TopicControl carries cluster-wide control events (session revoked,
	// user deactivated) to every node.
	TopicControl = "control"
)

// UserTopic is the topic that carries a user's events.
func UserTopic(userID string) string { return "user:" + userID }
