package pubsub

import (
	"context"
	"time"
)

// NodeStatus is one node's heartbeat in the cluster's node registry: who
// it is and what it says of its own health. ctl health and ctl stats read
// every node's through whichever node they ask.
type NodeStatus struct {
	ID           string    `json:"id"`
	Address      string    `json:"address"`                 // public listener as the node sees it
	AdminAddress string    `json:"admin_address,omitempty"` // admin listener, when there is one
	Version      string    `json:"version"`
	Started      time.Time `json:"started"`
	// Seen is when the node wrote this heartbeat, by its own clock.
	Seen time.Time `json:"seen"`
	// IntervalMS is the node's heartbeat period: a reader calls the entry
	// stale once Seen is a few periods old.
	IntervalMS  int64 `json:"interval_ms"`
	Connections int   `json:"connections"` // open WebSocket sessions
	// Checks are the node's dependencies and workers (store, bus, purge,
	// jobs, federation): "ok", or a short sentence saying what is wrong.
	Checks map[string]string `json:"checks"`
}

// Stale reports whether the node missed three heartbeats by now.
func (s NodeStatus) Stale(now time.Time) bool {
	iv := time.Duration(s.IntervalMS) * time.Millisecond
	if iv <= 0 {
		iv = time.Second
	}
	return now.Sub(s.Seen) > 3*iv
}

// RegistryRetention is how long an entry a node stopped refreshing is
// kept (and shown stale) before the registry forgets it. A node that stops
// cleanly leaves at once.
const RegistryRetention = time.Hour

// Registry lists the nodes of the cluster.
//
// Contract of every implementation:
//   - Announce replaces the entry of st.ID; a node announces every
//     IntervalMS. Entries are whole values: last writer wins.
//   - Nodes answers every entry announced within RegistryRetention, sorted
//     by ID, including nodes that stopped announcing: the caller tells
//     stale ones with NodeStatus.Stale (a node killed with kill -9 must show
//     up as unhealthy, not vanish). Older entries are pruned.
//   - Leave removes an entry at once (clean shutdown).
//   - With the backend unreachable, every method fails; nothing is cached.
type Registry interface {
	Announce(ctx context.Context, st NodeStatus) error
	Nodes(ctx context.Context) ([]NodeStatus, error)
	Leave(ctx context.Context, id string) error
}

// RegistryProvider is implemented by buses that carry a node registry
// (pubsub/local and pubsub/redis both do).
type RegistryProvider interface{ Registry() Registry }
