package redis

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crypttalk/crypttalk/pubsub/local"
)

// Presence design. The node keeps the authoritative count of its own
// connections per user in memory; Redis holds, per node, the SET of users
// with at least one connection there (with a TTL), plus one sorted set of
// live node ids scored by heartbeat expiry.
//
//   - Redis is written only on a user's 0->1 and 1->0 transitions on this
//     node, in one atomic script that also answers "was/is the user online
//     on another live node", so wasOffline/nowOffline are exact.
//   - A heartbeat every TTL/3 costs O(1) whatever the number of users: it
//     bumps the node's score and the TTL of its set (and prunes dead
//     nodes). A node killed with kill -9 stops heartbeating; its set
//     expires and its score falls behind "now", so its users go offline
//     within one TTL.
//   - If the set is gone (Redis restarted and lost everything, or a long
//     pause let it expire) or a write failed, the heartbeat rewrites the
//     whole set from memory in one MULTI. That is O(users), but only then.
//   - Online(n users) is one script per 1,000 users doing one SMISMEMBER
//     per live node: at 10k users and a handful of nodes, a few cheap round
//     trips.
//
// The in-memory counts are sharded, and a shard's lock is held across the
// Redis write so that the writes for one user cannot be reordered; resync
// takes every shard lock so its snapshot matches what Redis ends up with.
const (
	presenceShards = 64
	onlineBatch    = 1000 // users per Online script (Lua unpack has a limit)
)

type presence struct {
	b     *Bus
	ttl   time.Duration
	dirty atomic.Bool // a write failed: Redis may disagree with memory

	shards   [presenceShards]presenceShard
	kickc    chan struct{}
	stopc    chan struct{} // closed by stopHeartbeat (tests)
	stopOnce sync.Once
	failing  atomic.Bool // heartbeats are failing (log once per outage)
}

type presenceShard struct {
	mu    sync.Mutex
	conns map[string]int // user -> connections on this node
}

func newPresence(b *Bus) *presence {
	p := &presence{
		b:     b,
		ttl:   b.opts.PresenceTTL,
		kickc: make(chan struct{}, 1),
		stopc: make(chan struct{}),
	}
	for i := range p.shards {
		p.shards[i].conns = make(map[string]int)
	}
	return p
}

func (p *presence) shard(userID string) *presenceShard {
	h := fnv.New32a()
	_, _ = h.Write([]byte(userID))
	return &p.shards[h.Sum32()%presenceShards]
}

// Connect implements pubsub.Presence. On a Redis error the connection is
// still counted (the caller will Disconnect it later) and the next
// heartbeat rewrites this node's set.
func (p *presence) Connect(ctx context.Context, userID string) (bool, error) {
	if err := p.check(ctx, userID); err != nil {
		return false, err
	}
	s := p.shard(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[userID]++
	if s.conns[userID] > 1 {
		return false, nil
	}
	k := p.b.keys
	was, err := connectScript.Run(ctx, p.b.client, []string{k.nodes, k.self},
		userID, k.nodePrefix, p.b.opts.NodeID, p.ttl.Milliseconds()).Int()
	if err != nil {
		p.dirty.Store(true)
		return false, fmt.Errorf("presence connect: %w", err)
	}
	return was == 1, nil
}

// Disconnect implements pubsub.Presence. A disconnect without a matching
// connect on this node changes nothing and reports false.
func (p *presence) Disconnect(ctx context.Context, userID string) (bool, error) {
	if err := p.check(ctx, userID); err != nil {
		return false, err
	}
	s := p.shard(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch n := s.conns[userID]; {
	case n == 0:
		return false, nil
	case n > 1:
		s.conns[userID] = n - 1
		return false, nil
	}
	delete(s.conns, userID)
	k := p.b.keys
	off, err := disconnectScript.Run(ctx, p.b.client, []string{k.nodes, k.self},
		userID, k.nodePrefix, p.b.opts.NodeID).Int()
	if err != nil {
		p.dirty.Store(true)
		return false, fmt.Errorf("presence disconnect: %w", err)
	}
	return off == 1, nil
}

// Online implements pubsub.Presence.
func (p *presence) Online(ctx context.Context, userIDs []string) (map[string]bool, error) {
	if err := p.b.usable(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(userIDs))
	for batch := range slices.Chunk(userIDs, onlineBatch) {
		args := make([]any, 0, len(batch)+1)
		args = append(args, p.b.keys.nodePrefix)
		for _, u := range batch {
			args = append(args, u)
		}
		res, err := onlineScript.Run(ctx, p.b.client, []string{p.b.keys.nodes}, args...).Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("presence online: %w", err)
		}
		if len(res) != len(batch) {
			return nil, fmt.Errorf("presence online: %d answers for %d users", len(res), len(batch))
		}
		for i, u := range batch {
			out[u] = res[i] == 1
		}
	}
	return out, nil
}

func (p *presence) check(ctx context.Context, userID string) error {
	if err := local.CheckUser(userID); err != nil {
		return err
	}
	return p.b.usable(ctx)
}

// run heartbeats until the Bus closes.
func (p *presence) run() {
	defer p.b.wg.Done()
	t := time.NewTicker(p.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-p.b.ctx.Done():
			return
		case <-p.stopc:
			return
		case <-t.C:
		case <-p.kickc:
		}
		p.beat()
	}
}

// kick asks for a heartbeat now (after a reconnect, Redis may be empty).
func (p *presence) kick() {
	select {
	case p.kickc <- struct{}{}:
	default:
	}
}

// stopHeartbeat makes this node look dead to the others, as kill -9 would
// (tests).
func (p *presence) stopHeartbeat() { p.stopOnce.Do(func() { close(p.stopc) }) }

func (p *presence) beat() {
	ctx, cancel := context.WithTimeout(p.b.ctx, ioTimeout)
	defer cancel()
	k := p.b.keys
	exists, err := heartbeatScript.Run(ctx, p.b.client, []string{k.nodes, k.self},
		p.b.opts.NodeID, p.ttl.Milliseconds()).Int()
	if err == nil && (exists == 0 || p.dirty.Load()) {
		err = p.resync(ctx)
	}
	switch {
	case err != nil && !p.failing.Swap(true):
		p.b.log.Warn("presence heartbeat failing; users of this node will look offline after the TTL", "err", err)
	case err == nil && p.failing.Swap(false):
		p.b.log.Info("presence heartbeat restored")
	}
}

// resync rewrites this node's user set from memory, atomically.
func (p *presence) resync(ctx context.Context) error {
	for i := range p.shards {
		p.shards[i].mu.Lock()
		defer p.shards[i].mu.Unlock()
	}
	wasDirty := p.dirty.Swap(false)
	var users []any
	for i := range p.shards {
		for u := range p.shards[i].conns {
			users = append(users, u)
		}
	}
	if len(users) == 0 && !wasDirty {
		return nil // the set is absent and should be
	}
	k := p.b.keys
	_, err := p.b.client.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		pipe.Del(ctx, k.self)
		for chunk := range slices.Chunk(users, onlineBatch) {
			pipe.SAdd(ctx, k.self, chunk...)
		}
		pipe.PExpire(ctx, k.self, p.ttl)
		return nil
	})
	if err != nil {
		p.dirty.Store(true)
		return fmt.Errorf("presence resync: %w", err)
	}
	p.b.log.Info("presence set rewritten", "users", len(users))
	return nil
}

// leave takes this node's users offline at once on a clean shutdown.
func (p *presence) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	k := p.b.keys
	_, err := p.b.client.TxPipelined(ctx, func(pipe goredis.Pipeliner) error {
		pipe.Del(ctx, k.self)
		pipe.ZRem(ctx, k.nodes, p.b.opts.NodeID)
		return nil
	})
	if err != nil {
		p.b.log.Warn("could not remove this node's presence; it expires after the TTL", "err", err)
	}
}
