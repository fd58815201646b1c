package bolt

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// appendMessage is one durable send as chat does it: a seq, then the
// message with a 200-byte sealed body.
func appendMessage(b *testing.B, s *Store, conv string) {
	ctx := context.Background()
	now := time.Now()
	seq, err := s.NextSeq(ctx, conv, now)
	if err != nil {
		b.Fatal(err)
	}
	m := &store.Message{
		ID: store.NewID(), ConversationID: conv, Seq: seq, Sender: "@a:x", Recipient: "@b:x",
		Type: store.TypeText, KeyID: "k", Body: make([]byte, 200), CreatedAt: now,
	}
	if err := s.PutMessage(ctx, m); err != nil {
		b.Fatal(err)
	}
}

func benchConvs(b *testing.B, s *Store, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("!bench%d", i)
		if _, err := s.EnsureConversation(context.Background(), &store.Conversation{ID: ids[i], Members: []string{"@a:x", "@b:x"}}); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// BenchmarkPutMessage is one durable append at a time: two commits (seq,
// message), each its own commit and fsync.
func BenchmarkPutMessage(b *testing.B) {
	s := open(b)
	conv := benchConvs(b, s, 1)[0]
	b.ReportAllocs()
	for b.Loop() {
		appendMessage(b, s, conv)
	}
}

// BenchmarkPutMessageParallel is many senders at once (32 per core) in 64
// conversations: group commit lets them share fsyncs, so the time per
// message falls well below the serial benchmark's.
func BenchmarkPutMessageParallel(b *testing.B) {
	s := open(b)
	convs := benchConvs(b, s, 64)
	var next atomic.Uint32
	b.SetParallelism(32)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		conv := convs[int(next.Add(1))%len(convs)]
		for pb.Next() {
			appendMessage(b, s, conv)
		}
	})
}

// BenchmarkOpen opens a store holding 200k messages: the time must not
// depend on the count (Open reads the meta bucket only).
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	conv := benchConvs(b, s, 1)[0]
	// Loaded in chunks: one huge bbolt transaction is far slower.
	const total, chunk = 200_000, 5_000
	for start := int64(1); start <= total; start += chunk {
		err := s.db.Update(func(tx *bolt.Tx) error {
			for seq := start; seq < start+chunk; seq++ {
				m := &store.Message{ID: store.NewID(), ConversationID: conv, Seq: seq, Sender: "@a:x", Recipient: "@b:x", Body: make([]byte, 200)}
				if err := insertMessage(tx, msgKey(conv, seq), m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
