package storetest

import (
	"bytes"
	"testing"

	"github.com/crypttalk/crypttalk/store"
)

// crashCases hold every backend to the promise behind an acknowledged
// send: a send cut off at any point (the node died, the database went away
// mid-write) either stored its message or left nothing that makes the
// client's retry fail, and the retry never stores a second copy.
func crashCases(o options) []testCase {
	cases := []testCase{
		{"RetryAfterPutNeverRan", testCrashBeforePut},
		{"RetryAfterUnacknowledgedPut", testCrashAfterPut},
	}
	leftover := func(name string, test func(*testing.T, store.Store, func(t *testing.T, s store.Store, sender, txnID, messageID string))) testCase {
		return testCase{name, func(t *testing.T, s store.Store) {
			if o.plantTxnClaim == nil {
				t.Skip("the backend gave no WithLeftoverTxnClaim hook")
			}
			test(t, s, o.plantTxnClaim)
		}}
	}
	return append(cases,
		leftover("LeftoverClaimIsNoMessage", testLeftoverClaim),
		leftover("LeftoverClaimDoesNotBlockAppend", testLeftoverClaimAppend),
	)
}

// txnMsg is alice's message with txn id txn at seq.
func txnMsg(conv, txn string, seq int64, body string) *store.Message {
	return &store.Message{
		ID: store.TxnMessageID(alice, txn), ConversationID: conv, Seq: seq, Sender: alice, Recipient: bob,
		Type: store.TypeText, KeyID: "dk", TxnID: txn, Body: []byte(body), CreatedAt: t0,
	}
}

// wantOnlyTxnMessage checks that txn names exactly one stored message, at
// seq with body, and that it is the only message of conv.
func wantOnlyTxnMessage(t *testing.T, s store.Store, conv, txn string, seq int64, body string) {
	t.Helper()
	got, err := s.GetMessageByTxn(t.Context(), alice, txn)
	must(t, err)
	if got.ID != store.TxnMessageID(alice, txn) || got.Seq != seq || !bytes.Equal(got.Body, []byte(body)) {
		t.Fatalf("GetMessageByTxn = id %s seq %d body %q, want seq %d body %q", got.ID, got.Seq, got.Body, seq, body)
	}
	ms, err := s.ListMessages(t.Context(), conv, store.MessageRange{Limit: 50, Now: t0})
	must(t, err)
	wantSeqs(t, "messages of "+conv, ms, seq)
}

// testCrashBeforePut: the first attempt got its seq and died before its
// put (or its put failed and it could not tell the client). The retry
// stores the message under a new seq; the first attempt's put, should it
// still arrive, is refused; the seq it held stays unused, never reused.
func testCrashBeforePut(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!c")
	first, err := s.NextSeq(ctx, "!c", t0)
	must(t, err)
	_, err = s.GetMessageByTxn(ctx, alice, "t1")
	wantErr(t, err, store.ErrNotFound, "txn of a send that died before its put")
	retry, err := s.NextSeq(ctx, "!c", t0)
	must(t, err)
	must(t, s.PutMessage(ctx, txnMsg("!c", "t1", retry, "retry")))
	wantOnlyTxnMessage(t, s, "!c", "t1", retry, "retry")
	// The first attempt was only slow, not dead: its put comes last.
	wantErr(t, s.PutMessage(ctx, txnMsg("!c", "t1", first, "first")), store.ErrConflict, "the first attempt's late put")
	wantOnlyTxnMessage(t, s, "!c", "t1", retry, "retry")
	if next, err := s.NextSeq(ctx, "!c", t0); err != nil || next <= retry {
		t.Fatalf("NextSeq after the retry = %d, %v: want above %d", next, err, retry)
	}
}

// testCrashAfterPut: the put was stored but its caller never learnt so
// (timeout, connection cut after the commit). The retry's put conflicts
// and the message is found, once.
func testCrashAfterPut(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!c")
	first, err := s.NextSeq(ctx, "!c", t0)
	must(t, err)
	must(t, s.PutMessage(ctx, txnMsg("!c", "t1", first, "first")))
	retry, err := s.NextSeq(ctx, "!c", t0)
	must(t, err)
	wantErr(t, s.PutMessage(ctx, txnMsg("!c", "t1", retry, "retry")), store.ErrConflict, "the retry's put")
	wantOnlyTxnMessage(t, s, "!c", "t1", first, "first")
	if ap, ok := s.(store.Appender); ok {
		err := ap.AppendMessage(ctx, txnMsg("!c", "t1", 0, ""), sealSeq)
		wantErr(t, err, store.ErrConflict, "the retry's append")
		wantOnlyTxnMessage(t, s, "!c", "t1", first, "first")
	}
}

// testLeftoverClaim: a (sender, txn id) record without its message is not
// a message (never reported as one, which would acknowledge a send that
// was not stored) and does not block the retry, which stores the message
// exactly once.
func testLeftoverClaim(t *testing.T, s store.Store, plant func(t *testing.T, s store.Store, sender, txnID, messageID string)) {
	ctx := t.Context()
	mkConv(t, s, "!c")
	for _, tc := range []struct{ txn, claimed string }{
		{"t-random", store.NewID()},                           // an earlier version's random message id
		{"t-derived", store.TxnMessageID(alice, "t-derived")}, // the id the message would have had
	} {
		plant(t, s, alice, tc.txn, tc.claimed)
		_, err := s.GetMessageByTxn(ctx, alice, tc.txn)
		wantErr(t, err, store.ErrNotFound, "a claim without its message")
		_, err = s.GetMessage(ctx, tc.claimed)
		wantErr(t, err, store.ErrNotFound, "the claimed message")
		seq, err := s.NextSeq(ctx, "!c", t0)
		must(t, err)
		must(t, s.PutMessage(ctx, txnMsg("!c", tc.txn, seq, tc.txn)))
		got, err := s.GetMessageByTxn(ctx, alice, tc.txn)
		must(t, err)
		if got.Seq != seq || string(got.Body) != tc.txn {
			t.Fatalf("%s: GetMessageByTxn after the retry = seq %d body %q", tc.txn, got.Seq, got.Body)
		}
		again, err := s.NextSeq(ctx, "!c", t0)
		must(t, err)
		wantErr(t, s.PutMessage(ctx, txnMsg("!c", tc.txn, again, "again")), store.ErrConflict, tc.txn+": a second retry")
		// Deleting the message leaves nothing the leftover could revive.
		must(t, s.DeleteMessages(ctx, []string{got.ID}))
		_, err = s.GetMessageByTxn(ctx, alice, tc.txn)
		wantErr(t, err, store.ErrNotFound, tc.txn+": txn of the deleted message")
	}
	ms, err := s.ListMessages(ctx, "!c", store.MessageRange{Limit: 50, Now: t0})
	must(t, err)
	wantSeqs(t, "messages left", ms)
}

func testLeftoverClaimAppend(t *testing.T, s store.Store, plant func(t *testing.T, s store.Store, sender, txnID, messageID string)) {
	ap := appender(t, s)
	mkConv(t, s, "!c")
	plant(t, s, alice, "t1", store.NewID())
	must(t, ap.AppendMessage(t.Context(), txnMsg("!c", "t1", 0, ""), sealSeq))
	wantOnlyTxnMessage(t, s, "!c", "t1", 1, "sealed-1")
	wantErr(t, ap.AppendMessage(t.Context(), txnMsg("!c", "t1", 0, ""), sealSeq), store.ErrConflict, "a second append")
}
