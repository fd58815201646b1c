package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/crypttalk/crypttalk/store"
)

// appendCases check store.Appender on backends that offer it.
var appendCases = []testCase{
	{"SeqsInterleaveWithNextSeq", func(t *testing.T, s store.Store) {
		ap := appender(t, s)
		mkConv(t, s, "!ap")
		send(t, s, "!ap", alice, nil) // seq 1 through NextSeq + PutMessage
		m := newAppend("!ap", "")
		must(t, ap.AppendMessage(t.Context(), m, sealSeq))
		if m.Seq != 2 || string(m.Body) != "sealed-2" {
			t.Fatalf("appended seq %d body %q", m.Seq, m.Body)
		}
		got, err := s.GetMessage(t.Context(), m.ID)
		must(t, err)
		if got.Seq != 2 || string(got.Body) != "sealed-2" {
			t.Fatalf("stored %+v", got)
		}
		c, _ := s.GetConversation(t.Context(), "!ap")
		if c.LastSeq != 2 {
			t.Fatalf("LastSeq %d", c.LastSeq)
		}
		if seq, _ := s.NextSeq(t.Context(), "!ap", t0); seq != 3 {
			t.Fatalf("NextSeq after append = %d", seq)
		}
	}},
	{"TxnConflictStoresNothing", func(t *testing.T, s store.Store) {
		ap := appender(t, s)
		mkConv(t, s, "!ap")
		must(t, ap.AppendMessage(t.Context(), newAppend("!ap", "t1"), sealSeq))
		err := ap.AppendMessage(t.Context(), newAppend("!ap", "t1"), sealSeq)
		wantErr(t, err, store.ErrConflict, "same (sender, txn_id)")
		ms, _ := s.ListMessages(t.Context(), "!ap", store.MessageRange{Limit: 10, Now: t0})
		if len(ms) != 1 {
			t.Fatalf("%d messages after a conflict", len(ms))
		}
		c, _ := s.GetConversation(t.Context(), "!ap")
		if c.LastSeq != 1 {
			t.Fatalf("a refused append consumed seq: LastSeq %d", c.LastSeq)
		}
	}},
	{"UnknownConversation", func(t *testing.T, s store.Store) {
		err := appender(t, s).AppendMessage(t.Context(), newAppend("!none", ""), sealSeq)
		wantErr(t, err, store.ErrNotFound, "append to a missing conversation")
	}},
	{"ConcurrentUnique", func(t *testing.T, s store.Store) {
		ap := appender(t, s)
		mkConv(t, s, "!ap")
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[int64]bool{}
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := newAppend("!ap", "")
				if err := ap.AppendMessage(t.Context(), m, sealSeq); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if seen[m.Seq] {
					t.Errorf("seq %d given twice", m.Seq)
				}
				seen[m.Seq] = true
			}()
		}
		wg.Wait()
	}},
}

func appender(t *testing.T, s store.Store) store.Appender {
	ap, ok := s.(store.Appender)
	if !ok {
		t.Skip("backend does not implement store.Appender (optional)")
	}
	return ap
}

func newAppend(conv, txn string) *store.Message {
	id := store.NewID()
	if txn != "" {
		id = store.TxnMessageID(alice, txn)
	}
	return &store.Message{ID: id, ConversationID: conv, Sender: alice, Recipient: bob, Type: store.TypeText, KeyID: "dk", TxnID: txn, CreatedAt: t0}
}

func sealSeq(seq int64) ([]byte, error) { return fmt.Appendf(nil, "sealed-%d", seq), nil }
