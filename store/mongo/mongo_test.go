package mongo

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/store/storetest"
)

// TestConformance runs the suite on FerretDB-SQLite (or the backend
// CRYPTTALK_TEST_MONGO_BACKEND names, or a real MongoDB). The two suites
// run one after the other, not in parallel: each has 50 workers claiming
// seqs on one conversation, and together on a loaded machine they pushed
// FerretDB's own calls to PostgreSQL past their timeouts.
func TestConformance(t *testing.T) {
	conformance(t, testenv.StartMongo(t))
}

// TestConformancePostgreSQL runs the suite on FerretDB-PostgreSQL, where
// no key may hold a NUL.
func TestConformancePostgreSQL(t *testing.T) {
	conformance(t, testenv.StartMongoOn(t, testenv.BackendPostgreSQL))
}

func conformance(t *testing.T, srv *testenv.MongoServer) {
	storetest.Run(t, func(t *testing.T) store.Store {
		// The suite checks results, not speed: on a loaded machine 50
		// workers claiming seqs on FerretDB-SQLite (one writer at a time)
		// can keep one command waiting past the default 5 s.
		s, err := Open(context.Background(), srv.URLFor(store.NewID()[:12]), Options{OpTimeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, storetest.WithLeftoverTxnClaim(plantTxnClaim))
}

// plantTxnClaim writes what earlier versions of PutMessage left when they
// died between claiming (sender, txn_id) and inserting the message.
func plantTxnClaim(t *testing.T, s store.Store, sender, txnID, messageID string) {
	t.Helper()
	if _, err := s.(*Store).txns.InsertOne(t.Context(), bson.M{"_id": txnKey(sender, txnID), "message_id": messageID}); err != nil {
		t.Fatal(err)
	}
	// Such claims predate the store's opening (see legacyTxns).
	s.(*Store).legacyTxns = true
}

func TestOutageAndRecovery(t *testing.T) {
	srv := testenv.StartMongo(t)
	if !srv.CanStop() {
		t.Skip("a real MongoDB cannot be stopped by the test")
	}
	ctx := context.Background()
	s, err := Open(ctx, srv.URL(), Options{OpTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Opening twice is fine: indexes are created idempotently.
	again, err := Open(ctx, srv.URL(), Options{})
	if err != nil {
		t.Fatal("second open:", err)
	}
	again.Close()
	u := &store.User{ID: "u1", Localpart: "a", Email: "a@x.org"}
	if err := s.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	_, err = s.GetUser(ctx, "u1")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("while down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("a call hung %s while the server was down", d)
	}
	srv.Start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := s.GetUser(ctx, "u1")
		if err == nil {
			if got.Email != "a@x.org" {
				t.Fatal("data changed across the outage")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkPutTxnMessage compares the one-insert put of a message with a
// txn id against the claim-then-insert put it replaced (emulated here).
func BenchmarkPutTxnMessage(b *testing.B) {
	srv := testenv.StartMongo(b)
	s, err := Open(context.Background(), srv.URLFor(store.NewID()[:12]), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.EnsureConversation(ctx, &store.Conversation{ID: "!b", Members: []string{"@a:x", "@b:x"}}); err != nil {
		b.Fatal(err)
	}
	var seq int64
	put := func(b *testing.B, claimFirst bool) {
		for i := 0; i < b.N; i++ {
			seq++
			txn := store.NewID()
			m := &store.Message{ID: store.TxnMessageID("@a:x", txn), ConversationID: "!b", Seq: seq, Sender: "@a:x", Recipient: "@b:x", TxnID: txn, Body: []byte("sealed")}
			if claimFirst {
				if _, err := s.txns.InsertOne(ctx, bson.M{"_id": txnKey(m.Sender, txn), "message_id": m.ID}); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.PutMessage(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("one-insert", func(b *testing.B) { put(b, false) })
	b.Run("claim-then-insert", func(b *testing.B) { put(b, true) })
}

// TestOpenCreatesCollections: every collection exists once Open returns,
// so no first insert creates one under load (FerretDB-PostgreSQL failed
// two concurrent first inserts into claims with "relation already exists").
func TestOpenCreatesCollections(t *testing.T) {
	t.Parallel()
	srv := testenv.StartMongoOn(t, testenv.BackendPostgreSQL)
	s, err := Open(t.Context(), srv.URLFor(store.NewID()[:12]), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	have, err := s.db.ListCollectionNames(t.Context(), bson.M{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"claims", "txns", "meta", "account_data", "fed_counters", "fed_inbound", "conversations", "positions"} {
		if !slices.Contains(have, name) {
			t.Errorf("no collection %s after Open (have %v)", name, have)
		}
	}
}
