package gateway

import "sync"

// sendQueue is a socket's bounded outbound FIFO. Unlike a buffered channel
// it reserves no memory for its capacity: an idle socket holds none, which
// matters at tens of thousands of connections per node.
type sendQueue struct {
	mu    sync.Mutex
	items [][]byte
	max   int
	space chan struct{} // wakes a replay waiting for room
}

func newSendQueue(max int) *sendQueue {
	return &sendQueue{max: max, space: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push appends b unless the queue is full.
func (q *sendQueue) push(b []byte) bool {
	q.mu.Lock()
	if len(q.items) >= q.max {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, b)
	q.mu.Unlock()
	return true
}

// take removes and returns everything queued.
func (q *sendQueue) take() [][]byte {
	q.mu.Lock()
	items := q.items
	q.items = nil
	q.mu.Unlock()
	signal(q.space)
	return items
}

func (q *sendQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) == 0
}
