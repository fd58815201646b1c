// Package bolt is the embedded store: one bbolt file, <dir>/crypttalk.db,
// and encrypted blobs as files under <dir>/blobs/.
//
// Every write is durable (bbolt fsyncs its commit) before it returns.
// Concurrent writes share one commit (group commit, commit.go): fifty
// senders pay for one fsync, not fifty. Open reads only the meta
// bucket, so start-up time does not grow with the number of messages.
package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// DBFile is the name of the database file inside the data dir.
const DBFile = "crypttalk.db"

const (
	defaultLockTimeout = 5 * time.Second
	defaultPageLimit   = 100
)

// Options tune the embedded store. The zero value is ready to use.
type Options struct {
	// LockTimeout bounds the wait for the database's file lock, so a second
	// process on the same data dir fails with a clear error instead of
	// hanging. Default 5s.
	LockTimeout time.Duration
}

// Store is the embedded store.Store. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	commit *committer
	blobs  *blobStore

	// mu makes Close wait for calls in flight (including writes parked in
	// a pending batch), so Close does flush them; closed turns later calls
	// into ErrUnavailable.
	mu     sync.RWMutex
	closed bool
}

var _ store.Store = (*Store)(nil)

// Open opens the store in dir, creating dir (mode 0700), the database file
// (mode 0600) and the blob directory when they do not exist, and brings the
// schema up to date.
func Open(dir string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = defaultLockTimeout
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bolt: create data dir: %w", err)
	}
	path := filepath.Join(dir, DBFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.LockTimeout,
		// The map freelist keeps commits fast on a large, fragmented file.
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("bolt: %s is in use by another process (no lock within %s): %w", path, opts.LockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if err := migrate(db, migrations); err != nil {
		_ = db.Close()
		return nil, err
	}
	// The blob dir is touched only once we hold the lock, so clearing
	// leftovers of interrupted writes cannot hit another process's writes.
	blobs, err := newBlobStore(filepath.Join(dir, "blobs"))
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Store{db: db, commit: newCommitter(db), blobs: blobs}, nil
}

// Ping reports whether the database is open.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, func(*bolt.Tx) error { return nil })
}

// Close waits for the calls in flight, then closes the file. Later calls
// fail with store.ErrUnavailable. Closing twice is not an error.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

// Blobs returns the blob store.
func (s *Store) Blobs() store.BlobStore { return s.blobs }

// enter checks ctx and the open state and holds off Close until the
// returned func is called.
func (s *Store) enter(ctx context.Context) (func(), error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, fmt.Errorf("bolt: %w: store closed", store.ErrUnavailable)
	}
	return s.mu.RUnlock, nil
}

// view runs fn in a read-only transaction.
func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	leave, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	return dbErr(s.db.View(fn))
}

// update runs fn in a group commit and returns once the commit is on disk.
//
// bbolt may run fn more than once: when another member of the batch fails,
// the batch is rolled back and replayed, and a failing fn is retried alone.
// So fn must depend only on tx and must reset whatever it reports through
// captured variables at its start.
func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	leave, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	return dbErr(s.commit.do(fn))
}

// ctxErr turns an ended context into an error that matches both
// store.ErrUnavailable and the context's own error.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: %w: %w", store.ErrUnavailable, err)
	}
	return nil
}

// dbErr maps bbolt's "closed" to store.ErrUnavailable; other errors pass.
func dbErr(err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return fmt.Errorf("bolt: %w: %w", store.ErrUnavailable, err)
	}
	return err
}

// limitOr returns limit, or def when limit is not positive.
func limitOr(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return limit
}
