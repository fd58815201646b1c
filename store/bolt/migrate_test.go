package bolt

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// rawDB opens the database file of dir without the store around it.
func rawDB(t *testing.T, dir string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, &bolt.Options{Timeout: time.Second})
	must(t, err)
	return db
}

func setVersion(t *testing.T, db *bolt.DB, v uint64) {
	t.Helper()
	must(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Put(schemaVersionKey, binary.BigEndian.AppendUint64(nil, v))
	}))
}

func TestNewStoreIsAtLatestSchema(t *testing.T) {
	s := open(t)
	v, err := schemaVersion(s.db)
	must(t, err)
	if v != uint64(len(migrations)) {
		t.Fatalf("schema version %d, want %d", v, len(migrations))
	}
}

// TestMigration2BackfillsAfterReadIndex rolls a store back to schema 1
// (no after_read index) and checks that reopening rebuilds the index, so
// read receipts still start the timers of messages stored before.
func TestMigration2BackfillsAfterReadIndex(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openAt(t, dir)
	_, err := s.EnsureConversation(ctx, &store.Conversation{ID: "!c", Members: []string{"@a:x", "@b:x"}})
	must(t, err)
	m := &store.Message{ID: "m1", ConversationID: "!c", Seq: 1, Sender: "@a:x", Recipient: "@b:x", TTLAfterRead: 30}
	must(t, s.PutMessage(ctx, m))
	must(t, s.Close())

	db := rawDB(t, dir)
	must(t, db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bAfterRead) }))
	setVersion(t, db, 1)
	must(t, db.Close())

	s = openAt(t, dir)
	readAt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	must(t, s.SetMessagesExpiry(ctx, "!c", "@b:x", 1, readAt))
	got, err := s.GetMessage(ctx, "m1")
	must(t, err)
	if !got.ExpiresAt.Equal(readAt.Add(30 * time.Second)) {
		t.Fatalf("after migration the read did not start the timer: ExpiresAt %v", got.ExpiresAt)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	dir := t.TempDir()
	must(t, openAt(t, dir).Close())
	db := rawDB(t, dir)
	setVersion(t, db, uint64(len(migrations))+1)
	must(t, db.Close())
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

func TestFailedMigrationChangesNothing(t *testing.T) {
	dir := t.TempDir()
	must(t, openAt(t, dir).Close())
	db := rawDB(t, dir)
	defer db.Close()
	boom := errors.New("boom")
	steps := append(append([]migration{}, migrations...),
		func(tx *bolt.Tx) error { return createBuckets(tx, []byte("half_done")) },
		func(*bolt.Tx) error { return boom },
	)
	if err := migrate(db, steps); !errors.Is(err, boom) {
		t.Fatalf("migrate with a failing step: %v", err)
	}
	v, err := schemaVersion(db)
	must(t, err)
	if v != uint64(len(migrations)) {
		t.Fatalf("schema version %d after a failed migration, want %d", v, len(migrations))
	}
	must(t, db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("half_done")) != nil {
			t.Error("a failed migration left a step's work behind")
		}
		return nil
	}))
}

// TestOpenDoesNotReadMessages: start-up must not grow with the message
// count, so Open may not even decode them. A store whose messages are
// garbage still opens.
func TestOpenDoesNotReadMessages(t *testing.T) {
	dir := t.TempDir()
	must(t, openAt(t, dir).Close())
	db := rawDB(t, dir)
	must(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMsgs).Put(msgKey("!c", 1), []byte("{not json")) }))
	must(t, db.Close())
	s := openAt(t, dir)
	must(t, s.Ping(t.Context()))
}
