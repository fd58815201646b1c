package bolt

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// TestMigration3IndexesStoredFiles rolls a store back to schema 2 (no file
// purge or owner index) and checks that reopening indexes the files stored
// before, giving an unannounced upload the default pending time, so purge
// and the quota see them.
func TestMigration3IndexesStoredFiles(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openAt(t, dir)
	must(t, s.PutFile(ctx, &store.File{ID: "lone", Owner: "@a:x", Size: 10, CreatedAt: t0}))
	must(t, s.PutFile(ctx, &store.File{ID: "sent", Owner: "@a:x", Size: 5, ConversationID: "!c", MessageID: "m1", CreatedAt: t0}))
	must(t, s.Close())

	db := rawDB(t, dir)
	must(t, db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bFilesDue, bFilesByOwner} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return nil
	}))
	setVersion(t, db, 2)
	must(t, db.Close())

	s = openAt(t, dir)
	if n, err := s.FileUsage(ctx, "@a:x"); err != nil || n != 15 {
		t.Fatalf("usage after migration = %d, %v; want 15", n, err)
	}
	due, err := s.ListDueFiles(ctx, t0.Add(pendingUploadTTL), 0)
	must(t, err)
	if len(due) != 1 || due[0].ID != "lone" {
		t.Fatalf("due after migration: %v, want the unannounced upload alone", due)
	}
	if due, _ := s.ListDueFiles(ctx, t0.Add(pendingUploadTTL-time.Second), 0); len(due) != 0 {
		t.Fatalf("due before the pending time: %d files", len(due))
	}
}
