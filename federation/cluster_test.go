package federation

import (
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/pubsub/local"
	"github.com/crypttalk/crypttalk/vault"
)

// TestClusterSenderFailover: a.example is two nodes sharing one outbox,
// one signing key and a bus. Whichever holds the destination's lease
// sends; when it stops, the other takes the lease over and delivery goes
// on, nothing lost or duplicated, in order.
func TestClusterSenderFailover(t *testing.T) {
	t.Parallel()
	hub := local.NewHub()
	key := newKey(t, "shared")
	q, c := newFakeQueue(), newFakeChat()
	peers := map[string]string{}
	node := func() *testServer {
		bus := hub.Node()
		return startServer(t, "a.example", peers, func(o *Options) {
			o.Keys, o.Queue, o.Chat = vault.NewSigningKeys(key), q, c
			o.Locker, o.Bus = bus.Locker(), bus
			o.LeaseTTL = 300 * time.Millisecond
			o.ScanInterval = time.Second
		})
	}
	a1, a2 := node(), node()
	b := startServer(t, "b.example", map[string]string{"a.example": a1.url}, nil)
	peers["b.example"] = b.url
	a1.queue, a2.queue = q, q
	start(t, a1)

	enqueue(t, a1, 0, 20)
	a1.node.Wake("b.example")
	if !testenv.Poll(waitLimit, func() bool { return q.depth("b.example") == 0 && len(b.chat.events()) == 20 }) {
		t.Fatalf("first batch: outbox %d, b has %d", q.depth("b.example"), len(b.chat.events()))
	}
	// a1 holds the lease for up to 300 ms more when it dies; a2 must wait
	// it out, take it over and send.
	start(t, a2)
	a1.node.Stop()
	enqueue(t, a2, 20, 20)
	a2.node.Wake("b.example")
	if !testenv.Poll(waitLimit, func() bool { return q.depth("b.example") == 0 && len(b.chat.events()) == 40 }) {
		t.Fatalf("after failover: outbox %d, b has %d", q.depth("b.example"), len(b.chat.events()))
	}
	checkInOrder(t, bodies(b), 40)
	if n := b.chat.receiveCalls(); n != 40 {
		t.Fatalf("b applied %d events for 40: a resend was not answered from the record", n)
	}
}
