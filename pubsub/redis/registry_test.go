package redis

import (
	"context"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/pubsub"
)

// TestRegistryInRedis: entries live in one hash under the prefix; one that
// does not parse is listed by its id, stale, instead of hiding a node; an
// entry past the retention is pruned from Redis itself.
func TestRegistryInRedis(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := newCluster(t, srv, Options{})
	b := c.node(t)
	ctx := context.Background()
	r := b.Registry()
	rdb := admin(t, srv)
	if err := r.Announce(ctx, pubsub.NodeStatus{ID: "n1", Seen: time.Now(), IntervalMS: 2000}); err != nil {
		t.Fatal(err)
	}
	if err := r.Announce(ctx, pubsub.NodeStatus{ID: "n-old", Seen: time.Now().Add(-2 * pubsub.RegistryRetention)}); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, c.prefix+"nodes", "n-garbled", "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	ns, err := r.Nodes(ctx)
	if err != nil || len(ns) != 2 || ns[0].ID != "n-garbled" || !ns[0].Stale(time.Now()) || ns[0].Checks["registry"] == "" || ns[1].ID != "n1" {
		t.Fatalf("Nodes = %+v, %v", ns, err)
	}
	if ok, _ := rdb.HExists(ctx, c.prefix+"nodes", "n-old").Result(); ok {
		t.Fatal("an entry past the retention is still in Redis")
	}
}
