package local

import (
	"context"
	"hash/fnv"
	"sync"
)

// presenceShards spreads users over several locks; Connect and Disconnect
// run for every WebSocket session.
const presenceShards = 16

// presenceTable counts the connections of each user on each node of a hub.
// An entry exists only while its count is positive, so "online" is simply
// "has an entry".
type presenceTable struct {
	shards [presenceShards]presenceShard
}

type presenceShard struct {
	mu    sync.Mutex
	users map[string]map[uint64]int // user -> node -> connections
}

func newPresenceTable() *presenceTable {
	t := &presenceTable{}
	for i := range t.shards {
		t.shards[i].users = make(map[string]map[uint64]int)
	}
	return t
}

func (t *presenceTable) shard(userID string) *presenceShard {
	h := fnv.New32a()
	_, _ = h.Write([]byte(userID))
	return &t.shards[h.Sum32()%presenceShards]
}

func (t *presenceTable) connect(node uint64, userID string) (wasOffline bool) {
	s := t.shard(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	nodes := s.users[userID]
	if nodes == nil {
		nodes = make(map[uint64]int)
		s.users[userID] = nodes
	}
	wasOffline = len(nodes) == 0
	nodes[node]++
	return wasOffline
}

// disconnect reports whether this call took the user offline; a disconnect
// without a matching connect on this node changes nothing and reports
// false, so a buggy caller cannot announce a spurious transition.
func (t *presenceTable) disconnect(node uint64, userID string) (nowOffline bool) {
	s := t.shard(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	nodes := s.users[userID]
	if nodes[node] == 0 {
		return false
	}
	nodes[node]--
	if nodes[node] > 0 {
		return false
	}
	delete(nodes, node)
	if len(nodes) > 0 {
		return false
	}
	delete(s.users, userID)
	return true
}

func (t *presenceTable) online(userIDs []string) map[string]bool {
	out := make(map[string]bool, len(userIDs))
	for _, u := range userIDs {
		s := t.shard(u)
		s.mu.Lock()
		out[u] = len(s.users[u]) > 0
		s.mu.Unlock()
	}
	return out
}

// dropNode forgets every connection of a node, as the Redis backend does
// when a node's heartbeat stops.
func (t *presenceTable) dropNode(node uint64) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for u, nodes := range s.users {
			delete(nodes, node)
			if len(nodes) == 0 {
				delete(s.users, u)
			}
		}
		s.mu.Unlock()
	}
}

// presence is one node's view of the hub's presence table.
type presence struct{ b *Bus }

// Connect implements pubsub.Presence.
func (p presence) Connect(ctx context.Context, userID string) (bool, error) {
	if err := p.check(ctx, userID); err != nil {
		return false, err
	}
	return p.b.hub.presence.connect(p.b.id, userID), nil
}

// Disconnect implements pubsub.Presence.
func (p presence) Disconnect(ctx context.Context, userID string) (bool, error) {
	if err := p.check(ctx, userID); err != nil {
		return false, err
	}
	return p.b.hub.presence.disconnect(p.b.id, userID), nil
}

// Online implements pubsub.Presence.
func (p presence) Online(ctx context.Context, userIDs []string) (map[string]bool, error) {
	if err := p.b.usable(ctx); err != nil {
		return nil, err
	}
	return p.b.hub.presence.online(userIDs), nil
}

func (p presence) check(ctx context.Context, userID string) error {
	if err := CheckUser(userID); err != nil {
		return err
	}
	return p.b.usable(ctx)
}
