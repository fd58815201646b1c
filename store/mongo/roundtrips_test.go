package mongo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/event"

	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/store"
)

// commandCounter counts the commands a client sends, by name.
type commandCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *commandCounter) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		c.mu.Lock()
		c.n[e.CommandName]++
		c.mu.Unlock()
	}}
}

// take returns the total since the last take and a breakdown.
func (c *commandCounter) take() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	total, parts := 0, []string{}
	for name, n := range c.n {
		total += n
		parts = append(parts, fmt.Sprintf("%s %d", name, n))
	}
	sort.Strings(parts)
	c.n = map[string]int{}
	return total, strings.Join(parts, ", ")
}

// TestRoundTripsPerMessage counts the commands the store sends for what
// chat does per message: the txn-id lookup, EnsureConversation, NextSeq,
// PutMessage, and the recipient's delivered receipt. The bounds keep the
// reductions of docs/BENCHMARKS.md ("Cluster on FerretDB-PostgreSQL"):
// 9 commands per send and 5 per receipt before them.
func TestRoundTripsPerMessage(t *testing.T) {
	t.Parallel()
	srv := testenv.StartMongo(t)
	cc := &commandCounter{n: map[string]int{}}
	s, err := Open(t.Context(), srv.URLFor(store.NewID()[:12]), Options{OpTimeout: 5 * time.Second, Monitor: cc.monitor()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	const a, b = "@a:x", "@b:x"
	conv := &store.Conversation{ID: "!rt", Members: []string{a, b}}
	if _, err := s.EnsureConversation(ctx, conv); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 12; i++ {
		cc.take()
		txn := fmt.Sprintf("t%d", i)
		if _, err := s.GetMessageByTxn(ctx, a, txn); err == nil {
			t.Fatal("found a message never sent")
		}
		if _, err := s.EnsureConversation(ctx, conv); err != nil {
			t.Fatal(err)
		}
		seq, err := s.NextSeq(ctx, conv.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m := &store.Message{ID: store.TxnMessageID(a, txn), ConversationID: conv.ID, Seq: seq, Sender: a, Recipient: b, TxnID: txn, Body: []byte("sealed")}
		if err := s.PutMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		send, sendParts := cc.take()
		top, err := s.MarkDelivered(ctx, conv.ID, b, seq)
		if err != nil || top != seq {
			t.Fatalf("MarkDelivered = %d (%v), want %d", top, err, seq)
		}
		receipt, receiptParts := cc.take()
		if i == 1 || i == 12 {
			t.Logf("message %d: send %d commands (%s); receipt %d (%s)", i, send, sendParts, receipt, receiptParts)
		}
		if send > 7 || receipt > 4 {
			t.Fatalf("message %d: send %d commands (%s), receipt %d (%s); want at most 7 and 4", i, send, sendParts, receipt, receiptParts)
		}
	}
	c, err := s.GetConversation(ctx, conv.ID)
	if err != nil || c.DeliveredSeq[b] != 12 || c.LastSeq != 12 {
		t.Fatalf("after 12 messages: %+v (%v)", c, err)
	}
}
