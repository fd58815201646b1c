package bustest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
)

func registryOf(t *testing.T, b pubsub.Bus) pubsub.Registry {
	t.Helper()
	p, ok := b.(pubsub.RegistryProvider)
	if !ok {
		t.Fatalf("%T has no Registry() method", b)
	}
	return p.Registry()
}

// runRegistry checks the node registry contract (pubsub/registry.go):
// every node sees every node's latest entry, a silent node stays listed
// and turns stale, Leave removes at once, entries past the retention go,
// bad entries are refused and a closed bus fails.
func runRegistry(t *testing.T, newBus NewBus) {
	ctx := context.Background()
	a, b := newBus(t), newBus(t)
	ra, rb := registryOf(t, a), registryOf(t, b)
	now := time.Now().UTC().Truncate(time.Millisecond)
	st := func(id string, seen time.Time, conns int) pubsub.NodeStatus {
		return pubsub.NodeStatus{ID: id, Address: "127.0.0.1:1", Version: "test", Started: now.Add(-time.Minute), Seen: seen,
			IntervalMS: 1000, Connections: conns, Checks: map[string]string{"store": "ok", "bus": "ok"}}
	}
	if err := ra.Announce(ctx, st("node-b", now, 3)); err != nil {
		t.Fatal(err)
	}
	if err := rb.Announce(ctx, st("node-a", now, 1)); err != nil {
		t.Fatal(err)
	}
	if err := ra.Announce(ctx, st("node-b", now, 5)); err != nil { // replaces
		t.Fatal(err)
	}
	for _, r := range []pubsub.Registry{ra, rb} {
		ns, err := r.Nodes(ctx)
		if err != nil || len(ns) != 2 || ns[0].ID != "node-a" || ns[1].ID != "node-b" || ns[1].Connections != 5 ||
			ns[1].Checks["store"] != "ok" || !ns[1].Seen.Equal(now) || ns[1].Version != "test" {
			t.Fatalf("Nodes = %+v, %v", ns, err)
		}
		if ns[0].Stale(now.Add(2*time.Second)) || !ns[0].Stale(now.Add(4*time.Second)) {
			t.Fatal("Stale does not turn after three intervals")
		}
	}
	// A node silent for long is still listed (stale); one past the
	// retention is forgotten.
	if err := ra.Announce(ctx, st("node-old", now.Add(-pubsub.RegistryRetention-time.Minute), 0)); err != nil {
		t.Fatal(err)
	}
	if err := ra.Announce(ctx, st("node-silent", now.Add(-10*time.Minute), 0)); err != nil {
		t.Fatal(err)
	}
	ns, err := rb.Nodes(ctx)
	if err != nil || len(ns) != 3 || ns[2].ID != "node-silent" || !ns[2].Stale(time.Now()) {
		t.Fatalf("Nodes with an old and a silent entry = %+v, %v", ns, err)
	}
	if err := rb.Leave(ctx, "node-b"); err != nil {
		t.Fatal(err)
	}
	if ns, err := ra.Nodes(ctx); err != nil || len(ns) != 2 || ns[0].ID != "node-a" || ns[1].ID != "node-silent" {
		t.Fatalf("Nodes after Leave = %+v, %v", ns, err)
	}
	for _, bad := range []pubsub.NodeStatus{{Seen: now}, {ID: "x"}} {
		if err := ra.Announce(ctx, bad); err == nil {
			t.Errorf("Announce(%+v) accepted", bad)
		}
	}
	_ = a.Close()
	if err := ra.Announce(ctx, st("node-a", now, 0)); !errors.Is(err, local.ErrClosed) {
		t.Fatalf("Announce after Close: %v, want ErrClosed", err)
	}
	if _, err := ra.Nodes(ctx); !errors.Is(err, local.ErrClosed) {
		t.Fatalf("Nodes after Close: %v, want ErrClosed", err)
	}
}
