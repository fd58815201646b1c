package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

// federationCases check store.FederationQueue: per-destination order, an
// idempotent ack, and the promise that a message to a remote user is
// queued exactly once by the write that stores it, however often the
// write is retried.
var federationCases = []testCase{
	{"OutboxOrderPerDestination", testOutboxOrder},
	{"EnqueueSameIDOnce", testOutboxSameID},
	{"AckIdempotent", testOutboxAck},
	{"MessagePutQueuesOnce", testOutboxMessagePut},
	{"MessageAppendQueues", testOutboxMessageAppend},
	{"RetryAfterAckQueuesNothing", testOutboxRetryAfterAck},
	{"FailureStats", testOutboxStats},
	{"InboundTxnFirstWriterWins", testInboundTxn},
}

func outItem(id, dest string, at time.Time) store.OutboxItem {
	return store.OutboxItem{ID: id, Destination: dest, Kind: "ct.receipt", Payload: []byte(`{"id":"` + id + `"}`), CreatedAt: at}
}

func outIDs(items []store.OutboxItem) []string {
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

func wantOutbox(t *testing.T, s store.Store, dest string, want ...string) []store.OutboxItem {
	t.Helper()
	got, err := s.PeekOutbox(t.Context(), dest, 100)
	must(t, err)
	if g := outIDs(got); len(g) != len(want) || (len(want) > 0 && !equalStrings(g, want)) {
		t.Fatalf("outbox of %s = %v, want %v", dest, g, want)
	}
	return got
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testOutboxOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Later items with earlier CreatedAt: the order is the enqueue order.
	for i, id := range []string{"a1", "b1", "a2", "a3", "b2", "a4"} {
		dest := "a.test"
		if id[0] == 'b' {
			dest = "b.test"
		}
		must(t, s.EnqueueOutbox(ctx, outItem(id, dest, t0.Add(-time.Duration(i)*time.Second))))
	}
	got := wantOutbox(t, s, "a.test", "a1", "a2", "a3", "a4")
	if !bytes.Equal(got[0].Payload, []byte(`{"id":"a1"}`)) || got[0].Kind != "ct.receipt" || !got[0].CreatedAt.Equal(t0) || got[0].Destination != "a.test" {
		t.Fatalf("first item = %+v", got[0])
	}
	wantOutbox(t, s, "b.test", "b1", "b2")
	wantOutbox(t, s, "c.test")
	first, err := s.PeekOutbox(ctx, "a.test", 2)
	must(t, err)
	if g := outIDs(first); !equalStrings(g, []string{"a1", "a2"}) {
		t.Fatalf("PeekOutbox limit 2 = %v", g)
	}
}

func testOutboxSameID(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.EnqueueOutbox(ctx, outItem("x", "a.test", t0)))
	must(t, s.EnqueueOutbox(ctx, outItem("y", "a.test", t0)))
	must(t, s.EnqueueOutbox(ctx, outItem("x", "a.test", t0)))
	wantOutbox(t, s, "a.test", "x", "y")
}

func testOutboxAck(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"1", "2", "3"} {
		must(t, s.EnqueueOutbox(ctx, outItem(id, "a.test", t0)))
	}
	must(t, s.EnqueueOutbox(ctx, outItem("b", "b.test", t0)))
	must(t, s.AckOutbox(ctx, "a.test", []string{"1", "2", "missing", "b"}))
	wantOutbox(t, s, "a.test", "3")
	wantOutbox(t, s, "b.test", "b") // acked under another destination: kept
	must(t, s.AckOutbox(ctx, "a.test", []string{"1", "2"}))
	must(t, s.AckOutbox(ctx, "a.test", nil))
	wantOutbox(t, s, "a.test", "3")
	must(t, s.EnqueueOutbox(ctx, outItem("4", "a.test", t0)))
	wantOutbox(t, s, "a.test", "3", "4")
}

func remoteMsg(conv, id string, seq int64) *store.Message {
	return &store.Message{ID: id, ConversationID: conv, Seq: seq, Sender: alice, Recipient: carol, Type: store.TypeText,
		KeyID: "dk", Body: []byte("sealed"), CreatedAt: t0, Outbox: "y.test"}
}

func testOutboxMessagePut(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!r", alice, carol)
	must(t, s.EnqueueOutbox(ctx, outItem("before", "y.test", t0)))
	m := remoteMsg("!r", store.NewID(), 1)
	must(t, s.PutMessage(ctx, m))
	// A retry of the same write (its caller never learnt it was stored).
	wantErr(t, s.PutMessage(ctx, remoteMsg("!r", m.ID, 1)), store.ErrConflict, "the retried put")
	local := &store.Message{ID: store.NewID(), ConversationID: "!r", Seq: 2, Sender: alice, Recipient: carol, Type: store.TypeSystem, KeyID: "dk", Body: []byte("x"), CreatedAt: t0}
	must(t, s.PutMessage(ctx, local))
	got := wantOutbox(t, s, "y.test", "before", store.OutboxMessageID(m.ID))
	it := got[1]
	if it.Kind != store.OutboxMessage || it.MessageID != m.ID || it.ConversationID != "!r" || it.Seq != 1 || len(it.Payload) != 0 {
		t.Fatalf("message item = %+v", it)
	}
	stored, err := s.GetMessage(ctx, m.ID)
	must(t, err)
	if stored.Outbox != "y.test" {
		t.Fatalf("stored message Outbox = %q", stored.Outbox)
	}
}

func testOutboxMessageAppend(t *testing.T, s store.Store) {
	ap, ok := s.(store.Appender)
	if !ok {
		t.Skip("not an Appender")
	}
	ctx := t.Context()
	mkConv(t, s, "!r", alice, carol)
	var ids []string
	for range 3 {
		m := remoteMsg("!r", store.NewID(), 0)
		must(t, ap.AppendMessage(ctx, m, sealSeq))
		ids = append(ids, store.OutboxMessageID(m.ID))
	}
	got := wantOutbox(t, s, "y.test", ids...)
	for i, it := range got {
		if it.Seq != int64(i+1) {
			t.Fatalf("item %d has seq %d", i, it.Seq)
		}
	}
}

// testOutboxRetryAfterAck: the message went out and was acked, then the
// write that stored it is retried (its caller never got the answer). The
// retry must not queue the message a second time.
func testOutboxRetryAfterAck(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!r", alice, carol)
	m := remoteMsg("!r", store.NewID(), 1)
	must(t, s.PutMessage(ctx, m))
	must(t, s.AckOutbox(ctx, "y.test", []string{store.OutboxMessageID(m.ID)}))
	wantErr(t, s.PutMessage(ctx, remoteMsg("!r", m.ID, 1)), store.ErrConflict, "the retried put")
	wantErr(t, s.PutMessage(ctx, remoteMsg("!r", m.ID, 2)), store.ErrConflict, "the retried put under a new seq")
	wantOutbox(t, s, "y.test")
}

func testOutboxStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.EnqueueOutbox(ctx, outItem("1", "a.test", t0)))
	must(t, s.EnqueueOutbox(ctx, outItem("2", "a.test", t0.Add(time.Minute))))
	next := t0.Add(time.Hour)
	must(t, s.NoteOutboxFailure(ctx, "a.test", "connection refused", t0.Add(time.Second)))
	must(t, s.NoteOutboxFailure(ctx, "a.test", "timeout", next))
	must(t, s.NoteOutboxFailure(ctx, "down.test", "no route", next))
	st, err := s.OutboxDestinations(ctx)
	must(t, err)
	if len(st) != 2 || st[0].Destination != "a.test" || st[1].Destination != "down.test" {
		t.Fatalf("OutboxDestinations = %+v", st)
	}
	a := st[0]
	if a.Depth != 2 || !a.Oldest.Equal(t0) || a.Attempts != 2 || a.LastError != "timeout" || !a.NextAttempt.Equal(next) {
		t.Fatalf("a.test stats = %+v", a)
	}
	if d := st[1]; d.Depth != 0 || d.Attempts != 1 || d.LastError != "no route" {
		t.Fatalf("down.test stats = %+v", d)
	}
	must(t, s.AckOutbox(ctx, "a.test", []string{"1"}))
	st, err = s.OutboxDestinations(ctx)
	must(t, err)
	if len(st) != 2 || st[0].Depth != 1 || st[0].Attempts != 0 || st[0].LastError != "" {
		t.Fatalf("after an ack: %+v", st)
	}
}

func testInboundTxn(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetInboundTxn(ctx, "a.test", "t1")
	wantErr(t, err, store.ErrNotFound, "unseen txn")
	must(t, s.PutInboundTxn(ctx, "a.test", "t1", []byte(`{"pdus":{}}`)))
	wantErr(t, s.PutInboundTxn(ctx, "a.test", "t1", []byte(`other`)), store.ErrConflict, "second writer")
	got, err := s.GetInboundTxn(ctx, "a.test", "t1")
	must(t, err)
	if string(got) != `{"pdus":{}}` {
		t.Fatalf("GetInboundTxn = %q", got)
	}
	_, err = s.GetInboundTxn(ctx, "b.test", "t1")
	wantErr(t, err, store.ErrNotFound, "same txn id of another origin")
	must(t, s.PutInboundTxn(ctx, "b.test", "t1", []byte(`b`)))
}
