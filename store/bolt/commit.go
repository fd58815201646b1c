package bolt

import (
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// committer is the store's group commit. bbolt's own Batch closes a batch
// on a timer (MaxBatchDelay) and queues the closed batches on the write
// lock: under load many small batches wait behind each other, each paying
// for its own two fsyncs, and an idle server still waits the delay. Here a
// commit starts at once when none is running, and whatever arrives while
// one runs (its fsync included) goes into the next: batches grow with the
// load by themselves, and a lone write waits for no timer.
//
// Semantics match bbolt's Batch: every call returns once its changes are
// durable; when one fn fails, the transaction is rolled back, that fn is
// run again alone (its own result is returned to it) and the others are
// retried together. So fn may run more than once (see Store.update).
type committer struct {
	db  *bolt.DB
	max int // calls per commit

	mu      sync.Mutex
	queue   []*commitCall
	running bool
	last    time.Time     // latest call's arrival
	gap     time.Duration // moving average of the time between calls
	wake    chan struct{} // a call arrived while the loop lingers
}

type commitCall struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// maxCommitCalls bounds one commit: bigger commits amortise the fsync
// better, but hold the write lock (and the callers of that commit) longer.
const maxCommitCalls = 2000

// A commit costs two fdatasyncs, ~65 µs of CPU each on the project's VM
// whatever it carries. At a steady light load (calls less than lingerGap
// apart on average) each would carry one call, so the loop waits up to
// maxLinger for lingerCalls to gather: at 1,000 messages/s that halves the
// fsyncs per message for ~1 ms of latency. A lone call (idle server) and a
// loaded server (calls pile up during the previous commit) never wait.
const (
	lingerGap   = 2 * time.Millisecond
	maxLinger   = time.Millisecond
	lingerCalls = 4
)

func newCommitter(db *bolt.DB) *committer {
	return &committer{db: db, max: maxCommitCalls, gap: time.Second, wake: make(chan struct{}, 1)}
}

// do runs fn in a shared commit and returns once it is on disk.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	call := &commitCall{fn: fn, done: make(chan error, 1)}
	now := time.Now()
	c.mu.Lock()
	c.queue = append(c.queue, call)
	c.gap = movingGap(c.gap, now.Sub(c.last))
	c.last = now
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if !start {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	if start {
		go c.loop()
	}
	return <-call.done
}

// loop commits what is queued until nothing is; it runs only while there
// is work, so an idle store holds no goroutine.
func (c *committer) loop() {
	for {
		c.linger()
		c.mu.Lock()
		n := min(len(c.queue), c.max)
		if n == 0 {
			c.running = false
			c.queue = nil // drop the backing array a burst grew
			c.mu.Unlock()
			return
		}
		batch := make([]*commitCall, n)
		copy(batch, c.queue)
		rest := copy(c.queue, c.queue[n:])
		clear(c.queue[rest:])
		c.queue = c.queue[:rest]
		c.mu.Unlock()
		c.commit(batch)
	}
}

// movingGap folds the latest time between calls into the average (1/8
// weight); a gap over a second counts as a second, so one idle spell does
// not take long to forget.
func movingGap(avg, gap time.Duration) time.Duration {
	gap = min(max(gap, 0), time.Second)
	return avg - avg/8 + gap/8
}

// linger waits, under a steady light load only, for a few more calls to
// share the next commit (see lingerGap).
func (c *committer) linger() {
	c.mu.Lock()
	n, gap := len(c.queue), c.gap
	c.mu.Unlock()
	if n == 0 || n >= lingerCalls || gap >= lingerGap {
		return
	}
	select { // a wake-up from before this commit's calls were taken
	case <-c.wake:
	default:
	}
	timer := time.NewTimer(maxLinger)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return
		case <-c.wake:
			c.mu.Lock()
			n = len(c.queue)
			c.mu.Unlock()
			if n >= lingerCalls {
				return
			}
		}
	}
}

// commit runs batch in one transaction. A failing call is taken out and
// run alone; the rest are tried again together.
func (c *committer) commit(batch []*commitCall) {
	for len(batch) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, call := range batch {
				if err := safeCall(call.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, call := range batch {
				call.done <- err
			}
			return
		}
		solo := batch[failed]
		solo.done <- c.db.Update(func(tx *bolt.Tx) error { return safeCall(solo.fn, tx) })
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
}

// errCallPanicked reports a write function that panicked; the panic fails
// that call alone, as in bbolt's Batch.
var errCallPanicked = errors.New("bolt: write function panicked")

func safeCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errCallPanicked, p)
		}
	}()
	return fn(tx)
}
