package mongo

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/store"
)

// oldDB returns a database URL and a raw handle to it, for writing what
// schema version 1 wrote. It runs on SQLite (or a real MongoDB): PostgreSQL
// refuses the NUL ids of version 1, so no such database can exist there.
func oldDB(t *testing.T) (string, *mongo.Database) {
	t.Helper()
	srv := testenv.StartMongoOn(t, testenv.BackendSQLite)
	url := srv.URLFor(store.NewID()[:12])
	c, err := mongo.Connect(t.Context(), options.Client().ApplyURI(url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return url, c.Database(strings.TrimPrefix(url[strings.LastIndex(url, "/"):], "/"))
}

func insertRaw(t *testing.T, db *mongo.Database, coll string, docs ...bson.M) {
	t.Helper()
	for _, d := range docs {
		if _, err := db.Collection(coll).InsertOne(t.Context(), d); err != nil {
			t.Fatalf("%s: insert %q: %v", coll, d["_id"], err)
		}
	}
}

// TestMigrateNULKeys fills a database as schema version 1 wrote it (every
// compound _id NUL-joined), half-migrated in places as a node that died
// during the migration leaves it, then opens it from two nodes at once:
// every record is readable under the new ids, counters go on from where
// they were, nothing keeps a NUL, and the version is recorded.
func TestMigrateNULKeys(t *testing.T) {
	t.Parallel()
	url, db := oldDB(t)
	const a, b = "@a:x", "@b:x"
	insertRaw(t, db, "conversations", bson.M{"_id": "!c", "members": bson.A{a, b}, "last_seq": int64(3), "created_ms": int64(1), "last_ms": int64(1)})
	insertRaw(t, db, "claims",
		bson.M{"_id": "conversations\x00!c\x001"}, bson.M{"_id": "conversations\x00!c\x002"}, bson.M{"_id": "conversations\x00!c\x003"},
		// Claimed by a put that died before raising last_seq: 4 is taken.
		bson.M{"_id": "conversations\x00!c\x004"})
	insertRaw(t, db, "positions", bson.M{"_id": "!c\x00" + a + "\x00read\x002", "conv": "!c", "user": a, "kind": "read", "seq": int64(2)})
	txnMsg := store.Message{ID: "m-old", ConversationID: "!c", Seq: 1, Sender: a, Recipient: b, TxnID: "t-old", Body: []byte("x")}
	insertRaw(t, db, "messages", bson.M{"_id": txnMsg.ID, "conversation_id": "!c", "seq": int64(1), "sender": a, "recipient": b, "txn_id": "t-old", "body": []byte("x"), "created_ms": int64(1), "expires_ms": int64(0), "ttl_after_read": int64(0)})
	insertRaw(t, db, "txns", bson.M{"_id": a + "\x00t-old", "message_id": txnMsg.ID})
	insertRaw(t, db, "fed_counters", bson.M{"_id": "outbox\x00remote.example", "n": int64(7)})
	insertRaw(t, db, "fed_inbound", bson.M{"_id": "remote.example\x00txn1", "result": []byte("ok"), "created_ms": int64(1)})
	insertRaw(t, db, "account_data",
		bson.M{"_id": a + "\x00m.push_rules", "content": []byte("rules")},
		// Copied already by a migration that died before deleting the old
		// document, and rewritten since under the new id: the new wins.
		bson.M{"_id": b + "\x00m.direct", "content": []byte("old")},
		bson.M{"_id": docKey(b, "m.direct"), "content": []byte("new")})

	var wg sync.WaitGroup
	stores := make([]*Store, 2)
	errs := make([]error, 2)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url, Options{OpTimeout: 5 * time.Second}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	s, ctx := stores[0], t.Context()

	for _, name := range nulKeyed {
		n, err := db.Collection(name).CountDocuments(ctx, bson.M{"_id": bson.M{"$regex": `\x00`}})
		if err != nil || n != 0 {
			t.Fatalf("%s: %d ids with NUL left (%v)", name, n, err)
		}
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != schemaVersion {
		t.Fatalf("schema version %d (%v), want %d", v, err, schemaVersion)
	}
	if seq, err := stores[1].NextSeq(ctx, "!c", time.Now()); err != nil || seq != 5 {
		t.Fatalf("NextSeq after migration = %d (%v), want 5: the old claim of 4 still holds", seq, err)
	}
	c, err := s.GetConversation(ctx, "!c")
	if err != nil || c.ReadSeq[a] != 2 {
		t.Fatalf("read position %v (%v), want 2", c, err)
	}
	if top, err := s.MarkRead(ctx, "!c", a, 2); err != nil || top != 2 {
		t.Fatalf("MarkRead again = %d (%v)", top, err)
	}
	if m, err := s.GetMessageByTxn(ctx, a, "t-old"); err != nil || m.ID != txnMsg.ID {
		t.Fatalf("GetMessageByTxn through an old claim = %v (%v)", m, err)
	}
	if r, err := s.GetInboundTxn(ctx, "remote.example", "txn1"); err != nil || string(r) != "ok" {
		t.Fatalf("GetInboundTxn = %q (%v)", r, err)
	}
	for user, typ := range map[string]string{a: "m.push_rules", b: "m.direct"} {
		got, err := s.GetAccountData(ctx, user, typ)
		if want := map[string]string{a: "rules", b: "new"}[user]; err != nil || string(got) != want {
			t.Fatalf("GetAccountData(%s) = %q (%v), want %q", user, got, err, want)
		}
	}
	if order, err := s.nextOutboxOrder(ctx, "remote.example"); err != nil || order != 8 {
		t.Fatalf("outbox order after migration = %d (%v), want 8", order, err)
	}

	// Opening a migrated database again changes nothing.
	again, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal("reopen:", err)
	}
	again.Close()
}

// TestOpenRefusesNewerSchema: a build must not write into a layout it does
// not know (a rollback past a migration).
func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	url, db := oldDB(t)
	insertRaw(t, db, "meta", bson.M{"_id": "schema", "version": schemaVersion + 1})
	if s, err := Open(t.Context(), url, Options{}); err == nil || !strings.Contains(err.Error(), "newer than this build") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

func TestDocKeyInjective(t *testing.T) {
	t.Parallel()
	cases := [][]string{{"a|b", "c"}, {"a", "b|c"}, {"a%7Cb", "c"}, {"a", "b", "c"}, {"a|b|c"}, {"a\x00b", "c"}, {"", "a"}, {"a", ""}}
	seen := map[string][]string{}
	for _, parts := range cases {
		k := docKey(parts...)
		if strings.ContainsRune(k, 0) {
			t.Fatalf("docKey(%q) = %q holds a NUL", parts, k)
		}
		if prev, ok := seen[k]; ok {
			t.Fatalf("docKey(%q) = docKey(%q) = %q", parts, prev, k)
		}
		seen[k] = parts
	}
	if p := docKeyPrefix("conversations", "!c"); !strings.HasPrefix(claimID("conversations", "!c", 12), p) || strings.HasPrefix(claimID("conversations", "!c|x", 12), p) {
		t.Fatalf("prefix %q", p)
	}
}
