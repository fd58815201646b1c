package local_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/bustest"
	"github.com/crypttalk/crypttalk/pubsub/local"
)

// hubs gives every test its own in-process cluster; the suite asks for
// several nodes of one cluster by calling the factory with the same t.
type hubs struct {
	mu sync.Mutex
	m  map[*testing.T]*local.Hub
}

func (h *hubs) node(t *testing.T) pubsub.Bus {
	h.mu.Lock()
	hub := h.m[t]
	if hub == nil {
		hub = local.NewHub()
		h.m[t] = hub
		t.Cleanup(func() { h.mu.Lock(); delete(h.m, t); h.mu.Unlock() })
	}
	h.mu.Unlock()
	b := hub.Node()
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	h := &hubs{m: make(map[*testing.T]*local.Hub)}
	bustest.Run(t, h.node)
}

func TestNewIsSingleNode(t *testing.T) {
	a, b := local.New(), local.New()
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	var onA, onB bustest.Inbox
	bustest.Subscribe(t, a, "t", &onA)
	bustest.Subscribe(t, b, "t", &onB)
	bustest.Publish(t, b, "t", "b-only")
	bustest.Publish(t, a, "t", "a-only")
	onA.WaitLen(t, 1)
	onB.WaitLen(t, 1)
	if got := onA.Got(); len(got) != 1 || got[0] != "a-only" {
		t.Fatalf("separate New() buses share events: a got %q", got)
	}
	if ok, _ := b.Locker().TryLease(ctx, "job", 1e9); !ok {
		t.Fatal("a single node must always get its lease")
	}
	if ok, _ := a.Locker().TryLease(ctx, "job", 1e9); !ok {
		t.Fatal("separate New() buses share leases")
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	hub := local.NewHub()
	for range 3 {
		b := hub.Node()
		bustest.Subscribe(t, b, "t", new(bustest.Inbox))
		bustest.Publish(t, b, "t", "x")
		_ = b.Close()
	}
	bustest.WaitFor(t, "delivery goroutines to exit", func() bool {
		buf := make([]byte, 1<<20)
		return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "local.(*Fanout).run")
	})
}

func BenchmarkPublishLocal(b *testing.B) {
	bus := local.New()
	defer bus.Close()
	ctx := context.Background()
	got := make(chan struct{}, 1)
	if _, err := bus.Subscribe(ctx, "bench", func(string, []byte) { got <- struct{}{} }); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 256)
	b.ReportAllocs()
	for b.Loop() {
		if err := bus.Publish(ctx, "bench", payload); err != nil {
			b.Fatal(err)
		}
		<-got
	}
}
