package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

var messageCases = []testCase{
	{"PutGetRoundTrip", testMsgRoundTrip},
	{"ConflictSameTxn", testMsgConflictTxn},
	{"ConflictSameSeq", testMsgConflictSeq},
	{"ConcurrentSameTxn", testMsgConcurrentTxn},
	{"GetByTxn", testMsgByTxn},
	{"ListRanges", testMsgListRanges},
	{"ListDefaultLimit", testMsgListDefaultLimit},
	{"ListSkipsExpired", testMsgListExpired},
	{"ListKeepsConversationsApart", testMsgListApart},
	{"Count", testMsgCount},
	{"Delete", testMsgDelete},
}

func testMsgRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!m")
	body := []byte{0, 1, 2, 0xff, 'x'} // sealed bytes, not text
	put := send(t, s, "!m", alice, func(m *store.Message) {
		m.Type, m.Body, m.FileID, m.TxnID = store.TypeVoice, body, "f1", "txn-1"
		m.ExpiresAt, m.TTLAfterRead, m.CreatedAt = t0.Add(time.Hour), 0, t0.Add(time.Second)
	})
	got, err := s.GetMessage(ctx, put.ID)
	must(t, err)
	if got.ID != put.ID || got.ConversationID != "!m" || got.Seq != 1 || got.Sender != alice || got.Recipient != bob ||
		got.Type != store.TypeVoice || got.KeyID != put.KeyID || !bytes.Equal(got.Body, body) || got.FileID != "f1" ||
		got.TxnID != "txn-1" || !got.CreatedAt.Equal(t0.Add(time.Second)) || !got.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("GetMessage = %+v, want %+v", got, put)
	}
	plain := send(t, s, "!m", bob, func(m *store.Message) { m.TTLAfterRead = 30 })
	got, err = s.GetMessage(ctx, plain.ID)
	must(t, err)
	if !got.ExpiresAt.IsZero() || got.TTLAfterRead != 30 || got.TxnID != "" {
		t.Fatalf("zero fields did not round-trip: %+v", got)
	}
	_, err = s.GetMessage(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetMessage unknown")
}

func testMsgConflictTxn(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!m")
	first := send(t, s, "!m", alice, func(m *store.Message) { m.TxnID = "txn-1" })
	seq, err := s.NextSeq(ctx, "!m", t0)
	must(t, err)
	dup := &store.Message{ID: store.TxnMessageID(alice, "txn-1"), ConversationID: "!m", Seq: seq, Sender: alice, Recipient: bob, TxnID: "txn-1", Body: []byte("dup"), CreatedAt: t0}
	wantErr(t, s.PutMessage(ctx, dup), store.ErrConflict, "same (sender, txn_id)")
	got, err := s.GetMessage(ctx, first.ID)
	must(t, err)
	if got.Seq != first.Seq || !bytes.Equal(got.Body, first.Body) {
		t.Fatalf("the refused duplicate changed the stored message: %+v", got)
	}
	// A txn message must carry its derived id; any other is refused
	// before a write, even for a fresh txn id.
	bad := *dup
	bad.ID, bad.TxnID = store.NewID(), "txn-3"
	if err := s.PutMessage(ctx, &bad); !errors.Is(err, store.ErrTxnMessageID) {
		t.Fatalf("txn message with a random id: %v, want ErrTxnMessageID", err)
	}
	_, err = s.GetMessageByTxn(ctx, alice, "txn-3")
	wantErr(t, err, store.ErrNotFound, "txn of a refused message")
	// The refused puts took nothing: their seq is still free.
	dup.ID, dup.TxnID = store.TxnMessageID(alice, "txn-2"), "txn-2"
	must(t, s.PutMessage(ctx, dup))
	// Another sender may use the same txn id; an empty txn id never clashes.
	send(t, s, "!m", bob, func(m *store.Message) { m.TxnID = "txn-1" })
	send(t, s, "!m", alice, nil)
	send(t, s, "!m", alice, nil)
	byTxn, err := s.GetMessageByTxn(ctx, alice, "txn-1")
	must(t, err)
	if byTxn.ID != first.ID {
		t.Fatal("the refused duplicate replaced the txn index entry")
	}
}

func testMsgConflictSeq(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!m")
	mkConv(t, s, "!n")
	first := send(t, s, "!m", alice, nil)
	dup := *first
	dup.ID, dup.Body = store.NewID(), []byte("other")
	wantErr(t, s.PutMessage(ctx, &dup), store.ErrConflict, "same (conversation, seq)")
	dup.ID, dup.TxnID = store.TxnMessageID(alice, "txn-x"), "txn-x"
	wantErr(t, s.PutMessage(ctx, &dup), store.ErrConflict, "same (conversation, seq) with a txn id")
	_, err := s.GetMessageByTxn(ctx, alice, "txn-x")
	wantErr(t, err, store.ErrNotFound, "txn of a refused message")
	got, err := s.GetMessage(ctx, first.ID)
	must(t, err)
	if string(got.Body) != string(first.Body) {
		t.Fatal("a refused put changed the stored message")
	}
	// The same seq in another conversation is fine.
	dup.ConversationID = "!n"
	must(t, s.PutMessage(ctx, &dup))
}

func testMsgConcurrentTxn(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!m")
	// A client retrying one send over ten connections at once.
	errs := parallel(10, func(int) error {
		seq, err := s.NextSeq(ctx, "!m", t0)
		if err != nil {
			return err
		}
		return s.PutMessage(ctx, &store.Message{ID: store.TxnMessageID(alice, "retry"), ConversationID: "!m", Seq: seq, Sender: alice, Recipient: bob, TxnID: "retry", CreatedAt: t0})
	})
	wantOneWinner(t, "10 puts with one txn id", errs)
	ms, err := s.ListMessages(ctx, "!m", store.MessageRange{Limit: 50, Now: t0})
	must(t, err)
	if len(ms) != 1 {
		t.Fatalf("%d messages stored for one txn id", len(ms))
	}
}

func testMsgByTxn(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!m")
	a := send(t, s, "!m", alice, func(m *store.Message) { m.TxnID = "t1" })
	b := send(t, s, "!m", bob, func(m *store.Message) { m.TxnID = "t1" })
	for _, tc := range []struct {
		sender string
		want   string
	}{{alice, a.ID}, {bob, b.ID}} {
		got, err := s.GetMessageByTxn(ctx, tc.sender, "t1")
		must(t, err)
		if got.ID != tc.want || got.TxnID != "t1" {
			t.Fatalf("GetMessageByTxn(%s) = %s, want %s", tc.sender, got.ID, tc.want)
		}
	}
	for _, tc := range [][2]string{{alice, "t2"}, {carol, "t1"}, {alice, ""}, {"", "t1"}, {alice + "\x00t1", ""}} {
		_, err := s.GetMessageByTxn(ctx, tc[0], tc[1])
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("GetMessageByTxn(%q, %q)", tc[0], tc[1]))
	}
}

func testMsgListRanges(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!m")
	sendN(t, s, "!m", 10)
	for _, tc := range []struct {
		name string
		r    store.MessageRange
		want []int64
	}{
		{"no bound: newest", store.MessageRange{Limit: 3}, []int64{8, 9, 10}},
		{"no bound, all", store.MessageRange{Limit: 50}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"after: oldest after", store.MessageRange{AfterSeq: 2, Limit: 3}, []int64{3, 4, 5}},
		{"after 7", store.MessageRange{AfterSeq: 7, Limit: 50}, []int64{8, 9, 10}},
		{"after the end", store.MessageRange{AfterSeq: 10, Limit: 50}, nil},
		{"after far beyond", store.MessageRange{AfterSeq: 1 << 40, Limit: 50}, nil},
		{"before: newest before", store.MessageRange{BeforeSeq: 9, Limit: 2}, []int64{7, 8}},
		{"before 4", store.MessageRange{BeforeSeq: 4, Limit: 50}, []int64{1, 2, 3}},
		{"before the start", store.MessageRange{BeforeSeq: 1, Limit: 50}, nil},
		{"before far beyond", store.MessageRange{BeforeSeq: 1 << 40, Limit: 2}, []int64{9, 10}},
		{"both bounds", store.MessageRange{AfterSeq: 3, BeforeSeq: 7, Limit: 50}, []int64{4, 5, 6}},
		{"both bounds, oldest first under limit", store.MessageRange{AfterSeq: 3, BeforeSeq: 9, Limit: 2}, []int64{4, 5}},
		{"empty window", store.MessageRange{AfterSeq: 5, BeforeSeq: 6, Limit: 50}, nil},
		{"crossed bounds", store.MessageRange{AfterSeq: 8, BeforeSeq: 3, Limit: 50}, nil},
	} {
		tc.r.Now = t0
		got, err := s.ListMessages(ctx, "!m", tc.r)
		must(t, err)
		wantSeqs(t, tc.name, got, tc.want...)
	}
}

func testMsgListDefaultLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!m")
	sendN(t, s, "!m", 55)
	for _, limit := range []int{0, -5} {
		got, err := s.ListMessages(ctx, "!m", store.MessageRange{Limit: limit, Now: t0})
		must(t, err)
		if len(got) != 50 || got[0].Seq != 6 || got[49].Seq != 55 {
			t.Fatalf("limit %d: %d messages %v..., want the newest 50", limit, len(got), seqsOf(got[:min(3, len(got))]))
		}
	}
}

func testMsgListExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!m")
	expiring := func(at time.Time) func(m *store.Message) {
		return func(m *store.Message) { m.ExpiresAt = at }
	}
	send(t, s, "!m", alice, nil)                                // 1 never expires
	send(t, s, "!m", alice, expiring(t0.Add(-time.Second)))     // 2 expired
	send(t, s, "!m", alice, expiring(t0.Add(time.Hour)))        // 3 expires later
	send(t, s, "!m", alice, nil)                                // 4
	send(t, s, "!m", alice, expiring(t0))                       // 5 expires exactly now
	send(t, s, "!m", alice, expiring(t0.Add(-time.Minute)))     // 6 expired
	send(t, s, "!m", alice, expiring(t0.Add(time.Millisecond))) // 7 still live (ms: what every backend keeps)
	list := func(r store.MessageRange) []*store.Message {
		t.Helper()
		got, err := s.ListMessages(ctx, "!m", r)
		must(t, err)
		return got
	}
	wantSeqs(t, "all live", list(store.MessageRange{Limit: 50, Now: t0}), 1, 3, 4, 7)
	// Expired messages do not use up the limit.
	wantSeqs(t, "newest 2 live", list(store.MessageRange{Limit: 2, Now: t0}), 4, 7)
	wantSeqs(t, "oldest 2 live after 1", list(store.MessageRange{AfterSeq: 1, Limit: 2, Now: t0}), 3, 4)
	wantSeqs(t, "before 7", list(store.MessageRange{BeforeSeq: 7, Limit: 2, Now: t0}), 3, 4)
	wantSeqs(t, "an hour later", list(store.MessageRange{Limit: 50, Now: t0.Add(time.Hour)}), 1, 4)
	wantSeqs(t, "in the past", list(store.MessageRange{Limit: 50, Now: t0.Add(-time.Hour)}), 1, 2, 3, 4, 5, 6, 7)
}

func testMsgListApart(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Ids where one is a prefix of another must not share ranges.
	for _, id := range []string{"!m", "!m1", "!m\x01", "!"} {
		mkConv(t, s, id)
	}
	sendN(t, s, "!m", 3)
	sendN(t, s, "!m1", 2)
	sendN(t, s, "!m\x01", 4)
	sendN(t, s, "!", 1)
	for _, tc := range []struct {
		conv string
		want []int64
	}{{"!m", []int64{1, 2, 3}}, {"!m1", []int64{1, 2}}, {"!m\x01", []int64{1, 2, 3, 4}}, {"!", []int64{1}}, {"!nope", nil}, {"", nil}} {
		for _, r := range []store.MessageRange{{Limit: 50}, {AfterSeq: 0, BeforeSeq: 100, Limit: 50}, {AfterSeq: -1, Limit: 50}} {
			r.Now = t0
			got, err := s.ListMessages(ctx, tc.conv, r)
			must(t, err)
			wantSeqs(t, fmt.Sprintf("conversation %q %+v", tc.conv, r), got, tc.want...)
			for _, m := range got {
				if m.ConversationID != tc.conv {
					t.Fatalf("listing %q returned a message of %q", tc.conv, m.ConversationID)
				}
			}
		}
	}
}

func testMsgCount(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!m")
	mkConv(t, s, "!other")
	for i := range 10 {
		from := alice
		if i%3 == 0 { // seqs 1, 4, 7, 10 come from bob
			from = bob
		}
		send(t, s, "!m", from, nil)
	}
	send(t, s, "!m", alice, func(m *store.Message) { m.ExpiresAt = t0 })                // 11, expired at t0
	send(t, s, "!m", alice, func(m *store.Message) { m.ExpiresAt = t0.Add(time.Hour) }) // 12
	sendN(t, s, "!other", 5)
	for _, tc := range []struct {
		after     int64
		notSender string
		now       time.Time
		want      int
	}{
		{0, bob, t0, 7},                    // 2 3 5 6 8 9 12
		{5, bob, t0, 4},                    // 6 8 9 12
		{0, alice, t0, 4},                  // 1 4 7 10
		{0, carol, t0, 11},                 // all live
		{12, bob, t0, 0},                   // nothing after the end
		{0, bob, t0.Add(-time.Hour), 8},    // 11 not yet expired
		{0, bob, t0.Add(2 * time.Hour), 6}, // 12 expired too
	} {
		n, err := s.CountMessages(ctx, "!m", tc.after, tc.notSender, tc.now)
		must(t, err)
		if n != tc.want {
			t.Fatalf("CountMessages(after %d, not %s, %v) = %d, want %d", tc.after, tc.notSender, tc.now, n, tc.want)
		}
	}
	if n, err := s.CountMessages(ctx, "!nope", 0, bob, t0); err != nil || n != 0 {
		t.Fatalf("CountMessages(unknown) = %d, %v", n, err)
	}
}

func testMsgDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!m")
	ms := sendN(t, s, "!m", 5)
	withTxn := send(t, s, "!m", alice, func(m *store.Message) { m.TxnID = "t6" })
	must(t, s.DeleteMessages(ctx, []string{ms[0].ID, ms[2].ID, withTxn.ID, "missing", ms[0].ID}))
	must(t, s.DeleteMessages(ctx, nil))
	must(t, s.DeleteMessages(ctx, []string{"missing"}))
	got, err := s.ListMessages(ctx, "!m", store.MessageRange{Limit: 50, Now: t0})
	must(t, err)
	wantSeqs(t, "after delete", got, 2, 4, 5)
	for _, id := range []string{ms[0].ID, ms[2].ID, withTxn.ID} {
		_, err := s.GetMessage(ctx, id)
		wantErr(t, err, store.ErrNotFound, "deleted message")
	}
	_, err = s.GetMessageByTxn(ctx, alice, "t6")
	wantErr(t, err, store.ErrNotFound, "txn of a deleted message")
	if n, _ := s.CountMessages(ctx, "!m", 0, bob, t0); n != 3 {
		t.Fatalf("CountMessages after delete = %d, want 3", n)
	}
}
