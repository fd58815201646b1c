package bolt

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openRaw(t testing.TB) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	must(t, db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }))
	return db
}

// Every concurrent call lands; a failing call gets its own error and its
// writes are gone, a panicking one fails alone, and the calls sharing a
// commit with them are stored all the same.
func TestCommitterSharesCommitsAndIsolatesFailures(t *testing.T) {
	t.Parallel()
	db := openRaw(t)
	c := newCommitter(db)
	errBoom := errors.New("boom")
	const n = 300
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = c.do(func(tx *bolt.Tx) error {
				if err := tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "k%03d", i), []byte("v")); err != nil {
					return err
				}
				switch i % 50 {
				case 7:
					return errBoom
				case 9:
					panic("write function bug")
				}
				return nil
			})
		})
	}
	wg.Wait()
	must(t, db.View(func(tx *bolt.Tx) error {
		for i := range n {
			got := tx.Bucket([]byte("b")).Get(fmt.Appendf(nil, "k%03d", i))
			switch i % 50 {
			case 7:
				if !errors.Is(errs[i], errBoom) || got != nil {
					t.Errorf("failing call %d: err %v, stored %q", i, errs[i], got)
				}
			case 9:
				if !errors.Is(errs[i], errCallPanicked) || got != nil {
					t.Errorf("panicking call %d: err %v, stored %q", i, errs[i], got)
				}
			default:
				if errs[i] != nil || got == nil {
					t.Errorf("call %d: err %v, stored %q", i, errs[i], got)
				}
			}
		}
		return nil
	}))
}

// A lone call commits at once and the committer goroutine stops after it.
func TestCommitterIdleAfterWork(t *testing.T) {
	t.Parallel()
	db := openRaw(t)
	c := newCommitter(db)
	for i := range 3 {
		must(t, c.do(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put([]byte{byte(i)}, nil) }))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) != 0 {
		t.Fatalf("queue after the last call returned: %d", len(c.queue))
	}
}

// More calls than one commit takes are split over several commits.
func TestCommitterSplitsLargeBatches(t *testing.T) {
	t.Parallel()
	db := openRaw(t)
	c := newCommitter(db)
	c.max = 4
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if err := c.do(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "%d", i), nil) }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	must(t, db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket([]byte("b")).Stats().KeyN; n != 50 {
			t.Errorf("%d keys, want 50", n)
		}
		return nil
	}))
}

func TestMovingGap(t *testing.T) {
	t.Parallel()
	avg := newCommitter(nil).gap // no load seen yet
	for range 80 {
		avg = movingGap(avg, time.Millisecond)
	}
	if avg < time.Millisecond || avg > time.Millisecond+time.Millisecond/2 {
		t.Fatalf("after 80 gaps of 1ms the average is %v", avg)
	}
	if got := movingGap(0, -time.Second); got != 0 {
		t.Fatalf("a negative gap (clock step) moved the average to %v", got)
	}
	if got := movingGap(time.Second, time.Hour); got != time.Second {
		t.Fatalf("an hour-long gap counts as a second: %v", got)
	}
}
