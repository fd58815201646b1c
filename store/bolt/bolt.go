// Package bolt is the embedded store: one bbolt file under the data dir and
// encrypted blobs beside it. Writes are durable (fsync) before they return;
// concurrent writes are coalesced into one commit with bbolt's Batch (group
// commit), so many senders share one fsync.
package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// Bucket names.
var (
	bMeta         = []byte("meta")
	bUsers        = []byte("users")
	bUsersByLocal = []byte("users_by_local")
	bUsersByEmail = []byte("users_by_email")
	bSessions     = []byte("sessions")
	bSessByUser   = []byte("sessions_by_user")
	bConvs        = []byte("convs")
	bConvByMember = []byte("convs_by_member")
	bIdle         = []byte("convs_idle")
	bMsgs         = []byte("msgs")
	bMsgIDs       = []byte("msg_ids")
	bTxns         = []byte("txns")
	bExpiry       = []byte("msg_expiry")
	bKeys         = []byte("keys")
	bKeysByOwner  = []byte("keys_by_owner")
	bFiles        = []byte("files")
	bFilesByConv  = []byte("files_by_conv")
)

// Options tune the embedded store.
type Options struct {
	// LockTimeout bounds the wait for the file lock, so a second process on
	// the same data dir fails clearly instead of hanging. Default 5s.
	LockTimeout time.Duration
}

// Store is the embedded store.
type Store struct {
	db    *bolt.DB
	blobs *blobStore
}

var _ store.Store = (*Store)(nil)

// Open opens (or creates) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 5 * time.Second
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "crypttalk.db"), 0o600, &bolt.Options{Timeout: opts.LockTimeout, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("the data dir %s is in use by another process", dir)
	}
	if err != nil {
		return nil, err
	}
	// Group commit: wait up to 1 ms for other writers to join a commit.
	db.MaxBatchDelay = time.Millisecond
	db.MaxBatchSize = 1000
	if err := migrate(db); err != nil {
		db.Close()
		return nil, err
	}
	blobs, err := newBlobStore(filepath.Join(dir, "blobs"))
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, blobs: blobs}, nil
}

// migrations are applied in order; the index of the last applied one is
// stored under meta/schema_version.
var migrations = []func(tx *bolt.Tx) error{
	func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bUsers, bUsersByLocal, bUsersByEmail, bSessions, bSessByUser, bConvs, bConvByMember,
			bIdle, bMsgs, bMsgIDs, bTxns, bExpiry, bKeys, bKeysByOwner, bFiles, bFilesByConv} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
}

func migrate(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bMeta)
		if err != nil {
			return err
		}
		var version uint64
		if v := meta.Get([]byte("schema_version")); v != nil {
			version = binary.BigEndian.Uint64(v)
		}
		if version > uint64(len(migrations)) {
			return fmt.Errorf("the data dir has schema %d, newer than this binary knows (%d)", version, len(migrations))
		}
		for i := version; i < uint64(len(migrations)); i++ {
			if err := migrations[i](tx); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		return meta.Put([]byte("schema_version"), binary.BigEndian.AppendUint64(nil, uint64(len(migrations))))
	})
}

// Ping checks that the database is open.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, func(*bolt.Tx) error { return nil })
}

// Close waits for pending batches and closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Blobs returns the blob store.
func (s *Store) Blobs() store.BlobStore { return s.blobs }

func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	return s.db.View(fn)
}

// update runs fn in a group commit; fn may run more than once (bbolt
// retries a batch member alone when another member fails), so it must only
// depend on the transaction.
func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	return s.db.Batch(fn)
}

func getJSON(b *bolt.Bucket, key []byte, v any) error {
	raw := b.Get(key)
	if raw == nil {
		return store.ErrNotFound
	}
	return json.Unmarshal(raw, v)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// join builds index keys: parts separated by 0x00 (ids never contain it).
func join(parts ...string) []byte {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

func prefix(p string) []byte { return append([]byte(p), 0) }

func timeKey(t time.Time, id string) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
	return append(b, id...)
}

// deletePrefix removes every key of b starting with p.
func deletePrefix(b *bolt.Bucket, p []byte) error {
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Seek(p) {
		k = append([]byte(nil), k...) // deletes below may move the page k points into
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func hasPrefix(k, p []byte) bool { return len(k) >= len(p) && string(k[:len(p)]) == string(p) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
