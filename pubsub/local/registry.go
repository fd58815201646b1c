package local

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crypttalk/crypttalk/pubsub"
)

// nodeTable is the hub's node registry: every node of the hub sees the
// entries of all.
type nodeTable struct {
	mu sync.Mutex
	m  map[string]pubsub.NodeStatus
}

// CheckNodeStatus validates an entry given to Registry.Announce.
func CheckNodeStatus(st pubsub.NodeStatus) error {
	if st.ID == "" || strings.ContainsAny(st.ID, "\x00\n") || len(st.ID) > 256 {
		return fmt.Errorf("%w: node id %q", ErrInvalid, st.ID)
	}
	if st.Seen.IsZero() {
		return fmt.Errorf("%w: node status without a time", ErrInvalid)
	}
	return nil
}

// registry is one node's view of the hub's node table.
type registry struct{ b *Bus }

// Registry returns the hub's node registry (with New, a table of one).
func (b *Bus) Registry() pubsub.Registry { return registry{b: b} }

var _ pubsub.RegistryProvider = (*Bus)(nil)

func (r registry) table() *nodeTable {
	t := &r.b.hub.nodeTable
	if t.m == nil {
		t.m = make(map[string]pubsub.NodeStatus)
	}
	return t
}

// Announce implements pubsub.Registry.
func (r registry) Announce(ctx context.Context, st pubsub.NodeStatus) error {
	if err := CheckNodeStatus(st); err != nil {
		return err
	}
	if err := r.b.usable(ctx); err != nil {
		return err
	}
	st.Checks = maps.Clone(st.Checks)
	t := &r.b.hub.nodeTable
	t.mu.Lock()
	defer t.mu.Unlock()
	r.table().m[st.ID] = st
	return nil
}

// Nodes implements pubsub.Registry.
func (r registry) Nodes(ctx context.Context) ([]pubsub.NodeStatus, error) {
	if err := r.b.usable(ctx); err != nil {
		return nil, err
	}
	t := &r.b.hub.nodeTable
	t.mu.Lock()
	defer t.mu.Unlock()
	cut := time.Now().Add(-pubsub.RegistryRetention)
	out := []pubsub.NodeStatus{}
	for id, st := range r.table().m {
		if st.Seen.Before(cut) {
			delete(t.m, id)
			continue
		}
		st.Checks = maps.Clone(st.Checks)
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b pubsub.NodeStatus) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Leave implements pubsub.Registry.
func (r registry) Leave(ctx context.Context, id string) error {
	if err := r.b.usable(ctx); err != nil {
		return err
	}
	t := &r.b.hub.nodeTable
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(r.table().m, id)
	return nil
}
