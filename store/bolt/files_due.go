package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// File indexes for purge and quotas, kept by writeFile and unindexFile.
var (
	bFilesDue     = []byte("files_due")      // time + file id: when purge removes the file
	bFilesByOwner = []byte("files_by_owner") // owner \0 file id -> plaintext size (big-endian)
)

// pendingUploadTTL is what migration 3 gives the unannounced uploads that
// were stored before uploads had a PendingUntil: the default of
// limits.pending_upload_ttl.
const pendingUploadTTL = time.Hour

// migrateFileIndexes (migration 3) creates the purge and quota indexes and
// fills them from the files stored so far.
func migrateFileIndexes(tx *bolt.Tx) error {
	if err := createBuckets(tx, bFilesDue, bFilesByOwner); err != nil {
		return err
	}
	var files []*store.File
	err := tx.Bucket(bFiles).ForEach(func(_, v []byte) error {
		f := new(store.File)
		if err := json.Unmarshal(v, f); err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range files {
		if f.MessageID == "" && f.PendingUntil.IsZero() {
			f.PendingUntil = f.CreatedAt.Add(pendingUploadTTL)
		}
		if err := writeFile(tx, f); err != nil {
			return err
		}
	}
	return nil
}

// fileDue is when purge removes f: the earlier of its non-zero ExpiresAt
// and PendingUntil; zero when neither is set.
func fileDue(f *store.File) time.Time {
	switch {
	case f.ExpiresAt.IsZero():
		return f.PendingUntil
	case f.PendingUntil.IsZero() || f.ExpiresAt.Before(f.PendingUntil):
		return f.ExpiresAt
	}
	return f.PendingUntil
}

func indexFile(tx *bolt.Tx, f *store.File) error {
	if due := fileDue(f); !due.IsZero() {
		if err := tx.Bucket(bFilesDue).Put(timeKey(due, f.ID), []byte{}); err != nil {
			return err
		}
	}
	return tx.Bucket(bFilesByOwner).Put(join(f.Owner, f.ID), binary.BigEndian.AppendUint64(nil, uint64(max(f.Size, 0))))
}

// unindexFile removes every index entry of f (not f itself).
func unindexFile(tx *bolt.Tx, f *store.File) error {
	if f.ConversationID != "" {
		if err := tx.Bucket(bFilesByConv).Delete(join(f.ConversationID, f.ID)); err != nil {
			return err
		}
	}
	if due := fileDue(f); !due.IsZero() {
		if err := tx.Bucket(bFilesDue).Delete(timeKey(due, f.ID)); err != nil {
			return err
		}
	}
	return tx.Bucket(bFilesByOwner).Delete(join(f.Owner, f.ID))
}

// ListDueFiles returns up to limit files due for purge, most overdue first.
func (s *Store) ListDueFiles(ctx context.Context, now time.Time, limit int) ([]*store.File, error) {
	limit = limitOr(limit, defaultPageLimit)
	var out []*store.File
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return scanDue(tx, bFilesDue, now, func(id []byte) (bool, error) {
			f := new(store.File)
			if err := getJSON(tx, bFiles, id, f); err != nil {
				return false, err
			}
			out = append(out, f)
			return len(out) < limit, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ExpireFile lowers a file's ExpiresAt to at.
func (s *Store) ExpireFile(ctx context.Context, id string, at time.Time) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		f := new(store.File)
		if err := getJSON(tx, bFiles, []byte(id), f); err != nil {
			return err
		}
		if !f.ExpiresAt.IsZero() && !f.ExpiresAt.After(at) {
			return nil
		}
		if err := unindexFile(tx, f); err != nil {
			return err
		}
		f.ExpiresAt = at
		return writeFile(tx, f)
	})
}

// FileUsage sums the sizes of owner's files from the owner index.
func (s *Store) FileUsage(ctx context.Context, owner string) (int64, error) {
	var total int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		total = 0
		return scanPrefix(tx, bFilesByOwner, prefix(owner), func(_, v []byte) (bool, error) {
			if len(v) == 8 {
				total += int64(binary.BigEndian.Uint64(v))
			}
			return true, nil
		})
	})
	return total, err
}
