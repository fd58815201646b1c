package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/store"
)

// holdBus is a bus in front of the real one that can hold one publish (to
// reorder two senders' events deterministically) or delay every publish
// by a random pause (to shuffle them).
type holdBus struct {
	pubsub.Bus
	hold    atomic.Pointer[string] // topic whose next publish is held
	drop    atomic.Pointer[string] // topic whose publishes fail, as in a bus outage
	held    chan struct{}
	release chan struct{}
	jitter  time.Duration
}

func newHoldBus() *holdBus {
	return &holdBus{held: make(chan struct{}), release: make(chan struct{})}
}

func (b *holdBus) wrap() fixtureWrap {
	return fixtureWrap{bus: func(inner pubsub.Bus) pubsub.Bus { b.Bus = inner; return b }}
}

func (b *holdBus) Publish(ctx context.Context, topic string, payload []byte) error {
	if h := b.hold.Load(); h != nil && *h == topic && b.hold.CompareAndSwap(h, nil) {
		b.held <- struct{}{}
		<-b.release
	}
	if d := b.drop.Load(); d != nil && *d == topic {
		return errors.New("bus unavailable")
	}
	if b.jitter > 0 {
		time.Sleep(rand.N(b.jitter)) // shuffles publishers, asserts nothing
	}
	return b.Bus.Publish(ctx, topic, payload)
}

func (f *fixture) principal(t *testing.T, user string) *chat.Principal {
	t.Helper()
	p, err := f.svc.Authenticate(context.Background(), f.toks[user])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) send(t *testing.T, from *chat.Principal, to, text string) *chat.MessageView {
	t.Helper()
	v, err := f.svc.Send(context.Background(), from, chat.SendRequest{To: to, Text: text})
	if err != nil {
		t.Errorf("send: %v", err)
		return nil
	}
	return v
}

// device is one client device of bob across reconnects: it resumes with
// the highest seq it saw, as clients (and ctbench) do.
type device struct {
	conv  string
	since int64
	got   map[int64]int // seq -> times received
}

// read takes message frames from tr until stop says so, recording them.
// skipped is true when the frame's seq jumped over one the device has
// not seen, the moment a drop would lose a message.
func (d *device) read(t *testing.T, tr *fakeTransport, stop func(seq int64, n int, skipped bool) bool) {
	t.Helper()
	for n := 1; ; n++ {
		g := tr.next(t, "user-connected", "user-disconnected", "receipt", "typing", "ack")
		if g.Event != "msg-recieve" {
			t.Fatalf("unexpected %s %s", g.Event, g.Data)
		}
		var m chat.MessageView
		if err := json.Unmarshal(g.Data, &m); err != nil {
			t.Fatal(err)
		}
		skipped := m.Seq > d.since+1
		d.got[m.Seq]++
		d.since = max(d.since, m.Seq)
		if stop(m.Seq, n, skipped) {
			return
		}
	}
}

func (d *device) sinceMap() map[string]int64 {
	if d.conv == "" {
		return nil
	}
	return map[string]int64{d.conv: d.since}
}

// check fails unless the device got every seq 1..last exactly once.
func (d *device) check(t *testing.T, last int64) {
	t.Helper()
	var wrong []string
	for seq := int64(1); seq <= last; seq++ {
		if n := d.got[seq]; n != 1 {
			wrong = append(wrong, fmt.Sprintf("seq %d x%d", seq, n))
		}
	}
	if len(wrong) > 0 {
		t.Fatalf("of %d messages, received other than once: %v", last, wrong)
	}
}

// A live event that overtakes an earlier seq of its conversation (two
// senders publish in either order after their commits) must not reach the
// device first: a drop between the two would leave the earlier one
// behind the device's since. This is the 1-in-10 loss ctbench's reconnect
// scenario found.
func TestResumeAfterOutOfOrderLiveDelivery(t *testing.T) {
	t.Parallel()
	hb := newHoldBus()
	f := newFixture(t, Options{}, hb.wrap())
	alice, bob := f.principal(t, "alice"), f.principal(t, "bob")
	dev := &device{got: map[int64]int{}}
	tr := f.session(t, "bob", nil)
	m1 := f.send(t, alice, f.ids["bob"], "m1")
	dev.conv = m1.ConversationID
	dev.read(t, tr, func(seq int64, _ int, _ bool) bool { return seq == 1 })

	topic := pubsub.UserTopic(f.ids["bob"])
	hb.hold.Store(&topic)
	sent := make(chan struct{})
	go func() { defer close(sent); f.send(t, alice, f.ids["bob"], "m2") }() // stored, held before bob's topic
	<-hb.held
	f.send(t, bob, f.ids["alice"], "m3") // overtakes m2 on bob's topic
	dev.read(t, tr, func(seq int64, _ int, _ bool) bool { return seq == 3 })
	_ = tr.Close(CloseNormal, "") // the drop
	close(hb.release)
	<-sent

	tr2 := f.session(t, "bob", dev.sinceMap())
	f.send(t, alice, f.ids["bob"], "m4")
	dev.read(t, tr2, func(seq int64, _ int, _ bool) bool { return seq == 4 })
	dev.check(t, 4)
}

// The reconnect scenario at the gateway, many times over: two senders in
// one conversation with shuffled publishes, the device dropped after a
// random number of frames and resumed with its since. Every stored
// message reaches the device exactly once.
func TestResumeSeamRandomized(t *testing.T) {
	t.Parallel()
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	hb := newHoldBus()
	hb.jitter = 3 * time.Millisecond
	f := newFixture(t, Options{}, hb.wrap())
	alice, bob := f.principal(t, "alice"), f.principal(t, "bob")
	m := f.send(t, alice, f.ids["bob"], "first")
	dev := &device{conv: m.ConversationID, since: m.Seq, got: map[int64]int{m.Seq: 1}}
	const perSender = 4
	for range rounds {
		tr := f.session(t, "bob", dev.sinceMap())
		var wg sync.WaitGroup
		for _, s := range []struct {
			from *chat.Principal
			to   string
		}{{alice, f.ids["bob"]}, {bob, f.ids["alice"]}} {
			wg.Go(func() {
				for range perSender {
					f.send(t, s.from, s.to, "x")
				}
			})
		}
		// Dropped after a random number of frames, or at once when a
		// frame overtook an earlier seq.
		cut := rand.IntN(2 * perSender)
		if cut > 0 {
			dev.read(t, tr, func(_ int64, n int, skipped bool) bool { return n == cut || skipped })
		}
		_ = tr.Close(CloseNormal, "")
		wg.Wait()
	}
	tr := f.session(t, "bob", dev.sinceMap())
	last := f.send(t, alice, f.ids["bob"], "last")
	dev.read(t, tr, func(seq int64, _ int, _ bool) bool { return seq == last.Seq })
	dev.check(t, last.Seq)
}

// A seq the store never shows (a write that failed after its seq was
// taken) does not hold the socket for ever: after GapWait the event behind
// the hole goes out.
func TestHoleInSeqsIsPassedOver(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{GapWait: 100 * time.Millisecond})
	alice := f.principal(t, "alice")
	m := f.send(t, alice, f.ids["bob"], "m1")
	tr := f.session(t, "bob", map[string]int64{m.ConversationID: 0})
	dev := &device{conv: m.ConversationID, got: map[int64]int{}}
	dev.read(t, tr, func(seq int64, _ int, _ bool) bool { return seq == 1 })
	s := f.sessionOf(t, "bob")
	frame := encode("msg-recieve", chat.MessageView{ConversationID: m.ConversationID, Seq: 3}, nil)
	s.deliver(&delivery{event: "msg-recieve", conv: m.ConversationID, seq: 3, frame: frame}) // seq 2 never existed
	dev.read(t, tr, func(seq int64, _ int, _ bool) bool { return seq == 3 })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replaying || len(s.pending) > 0 {
		t.Fatalf("session still held: replaying %v, %d pending", s.replaying, len(s.pending))
	}
}

// A send retried with its txn_id publishes the message again (the first
// attempt may never have published it). A socket that had it, or whose
// client resumed past it, gets it once; a retry long after (more than
// seenWindow newer messages) is not shown again either.
func TestRetriedSendIsShownOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	alice := f.principal(t, "alice")
	dev := &device{got: map[int64]int{}}
	tr := f.session(t, "bob", nil)
	send := func(txn string) *chat.MessageView {
		v, err := f.svc.Send(context.Background(), alice, chat.SendRequest{To: f.ids["bob"], Text: "m " + txn, TxnID: txn})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first := send("t1")
	dev.conv = first.ConversationID
	send("t1") // retried at once: the socket had it
	last := int64(seenWindow + 6)
	for i := int64(2); i <= last; i++ {
		send(fmt.Sprint("t", i))
	}
	send("t1") // retried long after
	send(fmt.Sprint("t", last))
	end := send("sentinel")
	dev.read(t, tr, func(seq int64, _ int, _ bool) bool { return seq == end.Seq })
	_ = tr.Close(CloseNormal, "")

	tr2 := f.session(t, "bob", dev.sinceMap())
	send(fmt.Sprint("t", last)) // the client resumed past it
	after := send("after")
	dev.read(t, tr2, func(seq int64, _ int, _ bool) bool { return seq == after.Seq })
	dev.check(t, after.Seq)
}

// hideStore hides one seq from range reads, as MongoDB does between a
// seq's allocation and its message's insert.
type hideStore struct {
	store.Store
	hidden atomic.Int64
	reads  atomic.Int32 // range reads while a seq was hidden
}

func (h *hideStore) ListMessages(ctx context.Context, conv string, r store.MessageRange) ([]*store.Message, error) {
	msgs, err := h.Store.ListMessages(ctx, conv, r)
	hidden := h.hidden.Load()
	if hidden != 0 {
		h.reads.Add(1)
	}
	return slices.DeleteFunc(msgs, func(m *store.Message) bool { return m.Seq == hidden }), err
}

// gapCase is bob's socket after m1, with m2 stored but hidden from range
// reads (seq 2) and its publish lost: a MongoDB write not visible yet.
type gapCase struct {
	f     *fixture
	hb    *holdBus
	hs    *hideStore
	tr    *fakeTransport
	dev   *device
	alice *chat.Principal
}

func newGapCase(t *testing.T, opts Options) *gapCase {
	t.Helper()
	g := &gapCase{hb: newHoldBus(), hs: &hideStore{}}
	g.f = newFixture(t, opts, g.hb.wrap(), fixtureWrap{store: func(in store.Store) store.Store { g.hs.Store = in; return g.hs }})
	g.alice = g.f.principal(t, "alice")
	g.tr = g.f.session(t, "bob", nil)
	m1 := g.f.send(t, g.alice, g.f.ids["bob"], "m1")
	g.dev = &device{conv: m1.ConversationID, got: map[int64]int{}}
	g.dev.read(t, g.tr, func(seq int64, _ int, _ bool) bool { return seq == 1 })
	topic := pubsub.UserTopic(g.f.ids["bob"])
	g.hb.drop.Store(&topic)
	g.hs.hidden.Store(2)
	g.f.send(t, g.alice, g.f.ids["bob"], "m2")
	return g
}

// A replay that passed over a seq whose write was not visible for all of
// GapWait, and whose publish is then lost (the bus went away), must not
// leave it behind the watermark: the full resync after the bus returns
// sends it, and only it.
func TestResyncFindsSeqSkippedByEarlierReplay(t *testing.T) {
	t.Parallel()
	g := newGapCase(t, Options{GapWait: 50 * time.Millisecond})
	f, hb, hs, tr, dev, alice := g.f, g.hb, g.hs, g.tr, g.dev, g.alice
	f.send(t, alice, f.ids["bob"], "m3")
	s := f.sessionOf(t, "bob")
	s.requestResync() // the bus blipped: the replay shows 3, not 2
	dev.read(t, tr, func(seq int64, _ int, _ bool) bool { return seq == 3 })

	hs.hidden.Store(0)
	hb.drop.Store(nil)
	s.requestResync() // the bus is back
	last := f.send(t, alice, f.ids["bob"], "m4")
	dev.read(t, tr, func(seq int64, _ int, _ bool) bool { return seq == last.Seq })
	dev.check(t, last.Seq)
}

// Bus outages in the middle of shuffled live traffic: every resync
// replays what the session may have missed, and the device still gets
// every message exactly once.
func TestResyncDuringShuffledTrafficShowsOnce(t *testing.T) {
	t.Parallel()
	hb := newHoldBus()
	hb.jitter = 3 * time.Millisecond
	f := newFixture(t, Options{}, hb.wrap())
	alice, bob := f.principal(t, "alice"), f.principal(t, "bob")
	m := f.send(t, alice, f.ids["bob"], "first")
	dev := &device{conv: m.ConversationID, since: 0, got: map[int64]int{}}
	tr := f.session(t, "bob", dev.sinceMap())
	s := f.sessionOf(t, "bob")
	var wg sync.WaitGroup
	for _, p := range []struct {
		from *chat.Principal
		to   string
	}{{alice, f.ids["bob"]}, {bob, f.ids["alice"]}} {
		wg.Go(func() {
			for i := range 40 {
				f.send(t, p.from, p.to, "x")
				if i%7 == 3 {
					s.requestResync()
				}
			}
		})
	}
	wg.Wait()
	last := f.send(t, alice, f.ids["bob"], "last")
	dev.read(t, tr, func(seq int64, _ int, _ bool) bool { return seq == last.Seq })
	s.requestResync()
	end := f.send(t, alice, f.ids["bob"], "end")
	dev.read(t, tr, func(seq int64, _ int, _ bool) bool { return seq == end.Seq })
	dev.check(t, end.Seq)
}

// A seq whose message lands late (MongoDB takes the seq before the write;
// a slow or frozen database delays it) holds the events behind it through
// many fills: the device never sees seq 3 before seq 2, so a drop in
// between cannot leave 2 behind its since. The chaos test lost such a
// message when two quick fills passed over it and the node then died.
func TestLateWriteIsWaitedFor(t *testing.T) {
	t.Parallel()
	g := newGapCase(t, Options{})
	f, hb, hs, tr, dev, alice := g.f, g.hb, g.hs, g.tr, g.dev, g.alice
	hb.drop.Store(nil)
	f.send(t, alice, f.ids["bob"], "m3") // live, behind the gap
	if !testenv.Poll(10*time.Second, func() bool { return hs.reads.Load() >= 5 }) {
		t.Fatalf("%d fills of the gap", hs.reads.Load())
	}
	hs.hidden.Store(0) // the write lands
	dev.read(t, tr, func(seq int64, _ int, skipped bool) bool {
		if skipped {
			t.Fatalf("seq %d shown before the late seq 2", seq)
		}
		return seq == 3
	})
	dev.check(t, 3)
}
