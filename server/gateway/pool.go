package gateway

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// workQueue is a FIFO drained by a fixed number of workers. Producers never
// block: every item is a user entry or a session that is queued at most once
// at a time (the caller keeps a flag), so the queue is bounded by the
// number of users or sessions on the node.
type workQueue[T any] struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []T
	closed bool
}

func newWorkQueue[T any]() *workQueue[T] {
	q := &workQueue[T]{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues v and reports false once the queue is closed.
func (q *workQueue[T]) push(v T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.items = append(q.items, v)
	q.cond.Signal()
	return true
}

// pop waits for the next item; ok is false once the queue is closed.
func (q *workQueue[T]) pop() (v T, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return v, false
	}
	v = q.items[0]
	var zero T
	q.items[0] = zero
	q.items = q.items[1:]
	return v, true
}

// close wakes the workers and makes them stop; queued items are dropped.
func (q *workQueue[T]) close() {
	q.mu.Lock()
	q.closed = true
	q.items = nil
	q.cond.Broadcast()
	q.mu.Unlock()
}

// startWorkers runs n workers on q. A panic in fn is recovered, logged with
// its stack and counted, and onPanic cleans up after the item (closes the
// sockets concerned); the worker then goes on with the next item.
func startWorkers[T any](g *Gateway, q *workQueue[T], n int, where string, fn, onPanic func(T)) {
	for range n {
		g.workers.Go(func() {
			for {
				v, ok := q.pop()
				if !ok {
					return
				}
				g.safely(where, func() { fn(v) }, func() { onPanic(v) })
			}
		})
	}
}

// safely runs fn; if it panics, the panic is logged with its stack, counted
// in the metrics, and cleanup runs. The node stays up.
func (g *Gateway) safely(where string, fn, cleanup func()) {
	defer func() {
		if v := recover(); v != nil {
			g.panicked(where, v, debug.Stack())
			if cleanup != nil {
				cleanup()
			}
		}
	}()
	fn()
}

func (g *Gateway) panicked(where string, v any, stack []byte) {
	g.log.Error("panic recovered; closing the sockets concerned", "where", where, "panic", fmt.Sprint(v), "stack", string(stack))
	g.opts.Metrics.Panic(where)
}
