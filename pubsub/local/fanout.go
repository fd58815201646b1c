package local

import (
	"hash/fnv"
	"sync"
	"sync/atomic"

	"github.com/crypttalk/crypttalk/pubsub"
)

// fanoutShards spreads topics over this many delivery goroutines so that a
// busy topic does not hold up the others. A topic always maps to the same
// shard, which is what keeps its events in order.
const fanoutShards = 16

// Fanout delivers events to the handlers registered on one node. It is the
// node-local half of every Bus: the in-process Bus feeds it directly and the
// Redis Bus feeds it from its single subscriber connection, so both share
// one implementation of ordering and handler bookkeeping.
//
// Deliver never blocks on handlers: each shard has an unbounded queue
// drained by its own goroutine. Unbounded is deliberate, because a bounded
// queue either drops events silently or blocks the publisher, and a
// handler that subscribes or publishes from inside a delivery would then
// deadlock. The bus contract asks handlers to enqueue and return, which
// keeps these queues short.
type Fanout struct {
	shards [fanoutShards]fanoutShard
	stop   chan struct{}
	closed atomic.Bool
	wg     sync.WaitGroup
}

type fanoutShard struct {
	mu sync.Mutex
	// topics maps a topic to its handlers. The slices are copy-on-write:
	// a queued delivery keeps the slice it saw, so a handler added after a
	// publish does not get that event.
	topics map[string][]*Handle
	queue  []delivery
	wake   chan struct{}
}

type delivery struct {
	topic    string
	payload  []byte
	handlers []*Handle
}

// Handle is one handler registered on a Fanout.
type Handle struct {
	topic   string
	handler pubsub.Handler
	removed atomic.Bool
}

// Topic is the topic the handler was registered for.
func (h *Handle) Topic() string { return h.topic }

// NewFanout starts the delivery goroutines; Close stops them.
func NewFanout() *Fanout {
	f := &Fanout{stop: make(chan struct{})}
	for i := range f.shards {
		s := &f.shards[i]
		s.topics = make(map[string][]*Handle)
		s.wake = make(chan struct{}, 1)
		f.wg.Add(1)
		go f.run(s)
	}
	return f
}

func (f *Fanout) shard(topic string) *fanoutShard {
	h := fnv.New32a()
	_, _ = h.Write([]byte(topic))
	return &f.shards[h.Sum32()%fanoutShards]
}

// Add registers handler for topic and reports whether it is the topic's
// first handler (the moment to subscribe upstream).
func (f *Fanout) Add(topic string, handler pubsub.Handler) (h *Handle, first bool) {
	h = &Handle{topic: topic, handler: handler}
	s := f.shard(topic)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.topics[topic]
	hs := make([]*Handle, len(old), len(old)+1)
	copy(hs, old)
	s.topics[topic] = append(hs, h)
	return h, len(old) == 0
}

// Remove unregisters h and reports whether it was its topic's last handler
// (the moment to unsubscribe upstream). The handler is not called for
// deliveries that start after Remove; a call already running may finish.
// Removing twice is a no-op that reports false.
func (f *Fanout) Remove(h *Handle) (last bool) {
	if h.removed.Swap(true) {
		return false
	}
	s := f.shard(h.topic)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.topics[h.topic]
	hs := make([]*Handle, 0, len(old))
	for _, o := range old {
		if o != h {
			hs = append(hs, o)
		}
	}
	if len(hs) == 0 {
		delete(s.topics, h.topic)
		return true
	}
	s.topics[h.topic] = hs
	return false
}

// Has reports whether topic has at least one handler.
func (f *Fanout) Has(topic string) bool {
	s := f.shard(topic)
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.topics[topic]) > 0
}

// Topics lists the topics that have at least one handler.
func (f *Fanout) Topics() []string {
	var out []string
	for i := range f.shards {
		s := &f.shards[i]
		s.mu.Lock()
		for t := range s.topics {
			out = append(out, t)
		}
		s.mu.Unlock()
	}
	return out
}

// Deliver queues payload for every handler of topic and reports whether
// there was any. Handlers share payload and must not modify it.
func (f *Fanout) Deliver(topic string, payload []byte) bool {
	if f.closed.Load() {
		return false
	}
	s := f.shard(topic)
	s.mu.Lock()
	hs := s.topics[topic]
	if len(hs) > 0 {
		s.queue = append(s.queue, delivery{topic: topic, payload: payload, handlers: hs})
	}
	s.mu.Unlock()
	if len(hs) == 0 {
		return false
	}
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is already pending; the worker takes the whole queue
	}
	return true
}

func (f *Fanout) run(s *fanoutShard) {
	defer f.wg.Done()
	var batch []delivery
	for {
		select {
		case <-f.stop:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		s.mu.Unlock()
		for i := range batch {
			if f.closed.Load() {
				return
			}
			d := batch[i]
			batch[i] = delivery{} // let the payload be collected
			for _, h := range d.handlers {
				if !h.removed.Load() {
					h.handler(d.topic, d.payload)
				}
			}
		}
	}
}

// Close stops delivery and waits for running handlers to return; queued
// events are dropped (delivery is at most once). Close must not be called
// from a handler. It is idempotent.
func (f *Fanout) Close() {
	if f.closed.Swap(true) {
		return
	}
	close(f.stop)
	f.wg.Wait()
}
