package bolt

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/store/storetest"
)

func open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestReopenKeepsDataAndRefusesSecondProcess(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u := &store.User{ID: "u1", Localpart: "a", Email: "a@x.org"}
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond}); err == nil {
		t.Fatal("second open of a data dir in use succeeded")
	}
	s.Close()
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetUser(ctx, "u1"); err != nil {
		t.Fatal("user lost across reopen:", err)
	}
}

func benchAppend(b *testing.B, s *Store, conv string) {
	ctx := context.Background()
	seq, err := s.NextSeq(ctx, conv, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	m := &store.Message{ID: store.NewID(), ConversationID: conv, Seq: seq, Sender: "@a:x", Recipient: "@b:x", Type: "text", Body: make([]byte, 200), CreatedAt: time.Now()}
	if err := s.PutMessage(ctx, m); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPutMessage is one durable append (NextSeq + PutMessage) at a time.
func BenchmarkPutMessage(b *testing.B) {
	s := open(b)
	_, _ = s.EnsureConversation(context.Background(), &store.Conversation{ID: "!b", Members: []string{"@a:x", "@b:x"}})
	b.ReportAllocs()
	for b.Loop() {
		benchAppend(b, s, "!b")
	}
}

// BenchmarkPutMessageParallel shows group commit: many writers share fsyncs.
func BenchmarkPutMessageParallel(b *testing.B) {
	s := open(b)
	for i := 0; i < 64; i++ {
		_, _ = s.EnsureConversation(context.Background(), &store.Conversation{ID: "!p" + string(rune('A'+i)), Members: []string{"@a:x", "@b:x"}})
	}
	b.SetParallelism(32)
	b.ReportAllocs()
	var n uint32
	b.RunParallel(func(pb *testing.PB) {
		conv := "!p" + string(rune('A'+int(atomicAdd(&n)%64)))
		for pb.Next() {
			benchAppend(b, s, conv)
		}
	})
}

func atomicAdd(p *uint32) uint32 { return atomic.AddUint32(p, 1) }
