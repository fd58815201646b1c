package mongo

import (
	"context"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/store"
)

// TestFederationPendingOutboxItem covers what a PutMessage cut off between
// its outbox item and its message leaves: a pending item. While it is
// young it holds back its destination (its message may still arrive, and
// items behind it must not overtake it); once old it is handed out, and
// the sender finds the message, or none and skips it.
func TestFederationPendingOutboxItem(t *testing.T) {
	t.Parallel()
	srv := testenv.StartMongo(t)
	s, err := Open(context.Background(), srv.URLFor(store.NewID()[:12]), Options{OpTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	if err := s.EnqueueOutbox(ctx, store.OutboxItem{ID: "first", Destination: "y.test", Kind: "ct.receipt", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	m := &store.Message{ID: store.NewID(), ConversationID: "!c", Seq: 1, Sender: "@a:x.test", Recipient: "@b:y.test", Type: store.TypeText, Outbox: "y.test", CreatedAt: time.Now()}
	// The item of a write that died before its message.
	if _, err := s.writeOutbox(ctx, store.MessageOutboxItem(m), true); err != nil {
		t.Fatal(err)
	}
	if err := s.EnqueueOutbox(ctx, store.OutboxItem{ID: "after", Destination: "y.test", Kind: "ct.receipt", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	got, err := s.PeekOutbox(ctx, "y.test", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "first" {
		t.Fatalf("with a young pending item: %+v, want only the item before it", got)
	}
	// The grace has passed.
	old := ms(time.Now().Add(-time.Hour))
	if _, err := s.fedOutbox().UpdateOne(ctx, map[string]any{"_id": store.OutboxMessageID(m.ID)}, map[string]any{"$set": map[string]any{"pending_ms": old}}); err != nil {
		t.Fatal(err)
	}
	got, err = s.PeekOutbox(ctx, "y.test", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1].MessageID != m.ID || got[2].ID != "after" {
		t.Fatalf("with an old pending item: %+v", got)
	}
	// The retried write completes the item instead of queueing another.
	if err := s.PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	got, err = s.PeekOutbox(ctx, "y.test", 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("after the retry: %+v, %v", got, err)
	}
}
