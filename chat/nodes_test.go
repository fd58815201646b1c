package chat_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/pubsub"
)

type fakeLocker struct {
	held bool
	err  error
}

func (l fakeLocker) TryLease(context.Context, string, time.Duration) (bool, error) {
	return l.held, l.err
}

// selfOf is the node that answered.
func selfOf(ns []chat.NodeView) chat.NodeView {
	for _, n := range ns {
		if n.Self {
			return n
		}
	}
	return chat.NodeView{}
}

// TestNodesRegistry: the node asked is listed fresh with its checks
// before any heartbeat; other nodes come from the registry, an unhealthy
// check or a stale heartbeat makes one unhealthy with the reason; the
// heartbeat writes this node and leaves on stop; the purge worker's state
// shows standby when another node holds the lease and the trouble when the
// lease cannot be asked.
func TestNodesRegistry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.clk.mu.Lock()
	e.clk.now = time.Now() // the registry prunes by the wall clock
	e.clk.mu.Unlock()
	self := chat.NodeSelf{Address: "127.0.0.1:5000", Version: "test", Started: time.Now(), Connections: func() int { return 3 },
		Checks: func(context.Context) map[string]string { return map[string]string{"federation": "ok: idle"} }}
	ns, err := e.svc.Nodes(ctx, self)
	if err != nil || len(ns) != 1 || !ns[0].Self || !ns[0].Healthy || ns[0].Connections != 3 || ns[0].ID != chat.NodeID() ||
		ns[0].Checks["store"] != "ok" || ns[0].Checks["bus"] != "ok" || ns[0].Checks["federation"] != "ok: idle" || ns[0].Checks["jobs"] != "ok: idle" {
		t.Fatalf("Nodes alone = %+v, %v", ns, err)
	}
	reg := e.bus.Registry()
	now := e.clk.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.Announce(ctx, pubsub.NodeStatus{ID: "a-sick", Seen: now, IntervalMS: 2000, Checks: map[string]string{"store": "down: no route", "bus": "ok"}}))
	must(reg.Announce(ctx, pubsub.NodeStatus{ID: "b-dead", Seen: now.Add(-time.Minute), IntervalMS: 2000, Checks: map[string]string{"store": "ok"}}))
	ns, _ = e.svc.Nodes(ctx, self)
	byID := map[string]chat.NodeView{}
	for _, n := range ns {
		byID[n.ID] = n
	}
	sick, dead := byID["a-sick"], byID["b-dead"]
	if len(ns) != 3 || sick.Healthy || sick.Stale || sick.Problems[0] != "store: down: no route" ||
		dead.Healthy || !dead.Stale || !strings.HasPrefix(dead.Problems[0], "no heartbeat for 1m") || !selfOf(ns).Healthy {
		t.Fatalf("Nodes with a sick and a dead node = %+v", ns)
	}

	hctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.svc.RunHeartbeat(hctx, self, 20*time.Millisecond); close(done) }()
	listed := func() bool {
		all, _ := reg.Nodes(ctx)
		for _, n := range all {
			if n.ID == chat.NodeID() && n.Connections == 3 && n.IntervalMS == 20 {
				return true
			}
		}
		return false
	}
	waitFor(t, listed)
	stop()
	<-done
	if listed() {
		t.Fatal("a stopped node is still listed")
	}

	purge := func(l pubsub.Locker, cond func(chat.NodeView) bool) {
		t.Helper()
		pctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { e.svc.RunPurge(pctx, l, 10*time.Millisecond); close(done) }()
		waitFor(t, func() bool {
			ns, _ := e.svc.Nodes(ctx, self)
			return cond(selfOf(ns))
		})
		stop()
		<-done
	}
	purge(fakeLocker{held: false}, func(me chat.NodeView) bool {
		return me.Healthy && strings.HasPrefix(me.Checks["purge"], "ok: standby")
	})
	purge(fakeLocker{err: errors.New("redis: connection refused")}, func(me chat.NodeView) bool {
		return !me.Healthy && me.Checks["purge"] == "down: purge lease: redis: connection refused"
	})
	purge(fakeLocker{held: true}, func(me chat.NodeView) bool { return me.Healthy && me.Checks["purge"] == "ok" })
}
