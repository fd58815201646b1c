package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
)

// The node registry is one hash, <p>nodes: node id -> the JSON of its
// latest NodeStatus. A hash rather than a key per node with a TTL, because
// a node killed with kill -9 must stay listed (as stale) for operators to
// see, not vanish when its TTL runs out; readers judge staleness from Seen
// and prune entries past pubsub.RegistryRetention. One HSET per heartbeat
// and one HGETALL per ctl health: a handful of nodes, a few hundred bytes
// each.

// registry is the Redis node registry of a Bus.
type registry struct{ b *Bus }

// Registry returns the node registry kept in Redis.
func (b *Bus) Registry() pubsub.Registry { return registry{b: b} }

var _ pubsub.RegistryProvider = (*Bus)(nil)

func (r registry) key() string { return r.b.opts.Prefix + "nodes" }

// Announce implements pubsub.Registry.
func (r registry) Announce(ctx context.Context, st pubsub.NodeStatus) error {
	if err := local.CheckNodeStatus(st); err != nil {
		return err
	}
	if err := r.b.usable(ctx); err != nil {
		return err
	}
	v, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("%w: node status: %w", ErrInvalid, err)
	}
	if err := r.b.client.HSet(ctx, r.key(), st.ID, v).Err(); err != nil {
		return fmt.Errorf("node registry announce: %w", err)
	}
	return nil
}

// Nodes implements pubsub.Registry. An entry that does not parse (written
// by a newer version, say) is listed by its id alone, so it shows up as
// stale rather than hiding a node.
func (r registry) Nodes(ctx context.Context) ([]pubsub.NodeStatus, error) {
	if err := r.b.usable(ctx); err != nil {
		return nil, err
	}
	all, err := r.b.client.HGetAll(ctx, r.key()).Result()
	if err != nil {
		return nil, fmt.Errorf("node registry: %w", err)
	}
	cut := time.Now().Add(-pubsub.RegistryRetention)
	out := make([]pubsub.NodeStatus, 0, len(all))
	var old []string
	for id, v := range all {
		var st pubsub.NodeStatus
		if json.Unmarshal([]byte(v), &st) != nil {
			st = pubsub.NodeStatus{ID: id, Checks: map[string]string{"registry": "entry does not parse"}}
		}
		st.ID = id
		if !st.Seen.IsZero() && st.Seen.Before(cut) {
			old = append(old, id)
			continue
		}
		out = append(out, st)
	}
	if len(old) > 0 {
		// Best effort: another reader prunes them if this one fails.
		_ = r.b.client.HDel(ctx, r.key(), old...).Err()
	}
	slices.SortFunc(out, func(a, b pubsub.NodeStatus) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Leave implements pubsub.Registry.
func (r registry) Leave(ctx context.Context, id string) error {
	if err := r.b.usable(ctx); err != nil {
		return err
	}
	if err := r.b.client.HDel(ctx, r.key(), id).Err(); err != nil {
		return fmt.Errorf("node registry leave: %w", err)
	}
	return nil
}
