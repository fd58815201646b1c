package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
)

// ErrUnavailable means the node's subscriber connection to Redis is down:
// Subscribe fails fast and Ping reports it until the connection is back.
var ErrUnavailable = errors.New("pubsub/redis: subscriber connection to Redis is down")

// Reconnect backoff bounds.
const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 5 * time.Second
)

// subscriber owns the node's single pub/sub connection. Local handlers live
// in the Bus's Fanout; Redis sees one SUBSCRIBE per topic, sent when the
// topic's first local handler arrives and undone when its last one leaves.
//
// The connection is replaced as a whole when it breaks: go-redis can
// reconnect a PubSub by itself, but silently, and we must know when events
// may have been lost to run the OnReconnect hooks.
//
// Locking: mu guards the subscriber's state only and is never held across
// a round trip to Redis, because the receive loop needs it to confirm
// subscriptions. What must be ordered on the wire, one channel's SUBSCRIBE
// and UNSUBSCRIBE, is ordered by that channel's own lock (topicLock), so a
// slow command for one topic delays only that topic. UNSUBSCRIBE is sent by
// a background worker (as centrifuge's dissolver does), which rechecks
// under the channel's lock that the topic is still unwanted.
type subscriber struct {
	b *Bus

	mu     sync.Mutex
	ps     *goredis.PubSub       // nil while disconnected
	gone   chan struct{}         // closed when ps is dropped
	acks   map[string]*ackState  // channel -> SUBSCRIBE replies awaited on ps
	topics map[string]*topicLock // channel -> its wire lock, while in use
	unsubs []string              // channels for the unsubscribe worker
	wake   chan struct{}         // wakes the unsubscribe worker
	hooks  []func()

	// send writes SUBSCRIBE (subscribe true) or UNSUBSCRIBE; tests slow it.
	send func(ctx context.Context, ps *goredis.PubSub, subscribe bool, channels ...string) error
}

// topicLock serializes one channel's commands on the wire.
type topicLock struct {
	mu   sync.Mutex
	refs int // holders and waiters; guarded by subscriber.mu
}

// ackState tracks the SUBSCRIBE replies still expected for one channel on
// the current connection. Subscribe returns only once Redis confirmed, so
// an event published right after Subscribe returns is not lost.
type ackState struct {
	pending int
	ready   chan struct{} // closed when pending drops to zero
	live    bool          // the topic has local handlers
}

func (s *subscriber) init(b *Bus) {
	s.b = b
	s.topics = make(map[string]*topicLock)
	s.wake = make(chan struct{}, 1)
	s.send = func(ctx context.Context, ps *goredis.PubSub, subscribe bool, channels ...string) error {
		if subscribe {
			return ps.Subscribe(ctx, channels...)
		}
		return ps.Unsubscribe(ctx, channels...)
	}
}

// lockTopic takes channel's wire lock; unlockTopic gives it back.
func (s *subscriber) lockTopic(channel string) *topicLock {
	s.mu.Lock()
	tl := s.topics[channel]
	if tl == nil {
		tl = &topicLock{}
		s.topics[channel] = tl
	}
	tl.refs++
	s.mu.Unlock()
	tl.mu.Lock()
	return tl
}

func (s *subscriber) unlockTopic(channel string, tl *topicLock) {
	tl.mu.Unlock()
	s.mu.Lock()
	if tl.refs--; tl.refs == 0 {
		delete(s.topics, channel)
	}
	s.mu.Unlock()
}

// Subscribe implements pubsub.Bus. It returns once Redis has confirmed the
// subscription (at once if the topic already had a handler on this node),
// or fails within a few seconds if Redis is unreachable.
func (b *Bus) Subscribe(ctx context.Context, topic string, h pubsub.Handler) (pubsub.Subscription, error) {
	if err := local.CheckSubscribe(topic, h); err != nil {
		return nil, err
	}
	if err := b.usable(ctx); err != nil {
		return nil, err
	}
	handle, ready, gone, err := b.subs.add(ctx, topic, h)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %q: %w", topic, err)
	}
	wait, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	select {
	case <-ready:
		return subscription{s: &b.subs, h: handle}, nil
	case <-gone:
		err = ErrUnavailable
	case <-b.ctx.Done():
		err = ErrClosed
	case <-wait.Done():
		err = wait.Err()
	}
	b.subs.remove(handle)
	return nil, fmt.Errorf("subscribe to %q: %w", topic, err)
}

type subscription struct {
	s *subscriber
	h *local.Handle
}

// Close implements pubsub.Subscription; it is idempotent.
func (sub subscription) Close() error {
	sub.s.remove(sub.h)
	return nil
}

// add registers h and, for the topic's first handler, sends SUBSCRIBE. It
// returns the channels to wait on: confirmation, or loss of the connection.
func (s *subscriber) add(ctx context.Context, topic string, h pubsub.Handler) (*local.Handle, <-chan struct{}, <-chan struct{}, error) {
	channel := s.b.keys.topicPrefix + topic
	tl := s.lockTopic(channel)
	defer s.unlockTopic(channel, tl)
	s.mu.Lock()
	if s.ps == nil {
		s.mu.Unlock()
		return nil, nil, nil, ErrUnavailable
	}
	handle, first := s.b.fan.Add(topic, h)
	ps, gone := s.ps, s.gone
	var st *ackState
	if first {
		st = s.expect(channel)
	} else {
		// Every topic with handlers has an ack state on the current
		// connection: connect creates them, remove keeps them while live.
		st = s.acks[channel]
	}
	s.mu.Unlock()
	if first {
		if err := s.send(ctx, ps, true, channel); err != nil {
			// The connection broke; the receive loop notices, closes gone and
			// reconnects, so the waiter learns of it without a second path.
			s.b.log.Warn("SUBSCRIBE failed", "channel", channel, "err", err)
		}
	}
	return handle, st.ready, gone, nil
}

// remove unregisters h and, for the topic's last handler, hands the
// UNSUBSCRIBE to the background worker.
func (s *subscriber) remove(h *local.Handle) {
	channel := s.b.keys.topicPrefix + h.Topic()
	s.mu.Lock()
	if !s.b.fan.Remove(h) {
		s.mu.Unlock()
		return
	}
	if st := s.acks[channel]; st != nil {
		st.live = false
		if st.pending == 0 {
			delete(s.acks, channel)
		}
	}
	s.unsubs = append(s.unsubs, channel)
	s.mu.Unlock()
	signalWake(s.wake)
}

func signalWake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// unsubscriber sends the queued UNSUBSCRIBEs until the Bus closes. Each
// channel is rechecked under its wire lock: a topic that got a handler
// again meanwhile stays subscribed. After Close nothing is sent: closing
// the connection unsubscribes everything.
func (s *subscriber) unsubscriber() {
	defer s.b.wg.Done()
	for {
		select {
		case <-s.b.ctx.Done():
			return
		case <-s.wake:
		}
		s.mu.Lock()
		batch := s.unsubs
		s.unsubs = nil
		s.mu.Unlock()
		for _, channel := range batch {
			if s.b.ctx.Err() != nil {
				return
			}
			s.unsubscribe(channel)
		}
	}
}

func (s *subscriber) unsubscribe(channel string) {
	tl := s.lockTopic(channel)
	defer s.unlockTopic(channel, tl)
	topic := strings.TrimPrefix(channel, s.b.keys.topicPrefix)
	s.mu.Lock()
	ps, wanted := s.ps, s.b.fan.Has(topic)
	s.mu.Unlock()
	if ps == nil || wanted {
		return // the next connection subscribes only to live topics
	}
	ctx, cancel := context.WithTimeout(s.b.ctx, ioTimeout)
	defer cancel()
	if err := s.send(ctx, ps, false, channel); err != nil {
		s.b.log.Warn("UNSUBSCRIBE failed", "channel", channel, "err", err)
	}
}

// expect notes one more SUBSCRIBE reply to wait for on channel. Counting
// replies (rather than a flag) keeps SUBSCRIBE, UNSUBSCRIBE, SUBSCRIBE in
// quick succession from being confirmed by the first reply. Caller holds mu.
func (s *subscriber) expect(channel string) *ackState {
	st := s.acks[channel]
	if st == nil {
		st = &ackState{}
		s.acks[channel] = st
	}
	if st.pending == 0 {
		st.ready = make(chan struct{})
	}
	st.pending++
	st.live = true
	return st
}

// confirm records a SUBSCRIBE reply received on ps.
func (s *subscriber) confirm(ps *goredis.PubSub, channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.acks[channel]
	if s.ps != ps || st == nil || st.pending == 0 {
		return
	}
	st.pending--
	if st.pending > 0 {
		return
	}
	close(st.ready)
	if !st.live {
		delete(s.acks, channel)
	}
}

// connect opens a new pub/sub connection and subscribes it to every topic
// that has local handlers.
func (s *subscriber) connect(ctx context.Context) (*goredis.PubSub, error) {
	ps := s.b.client.Subscribe(ctx)
	if err := handshake(ctx, ps); err != nil {
		_ = ps.Close()
		return nil, err
	}
	s.mu.Lock()
	if s.b.ctx.Err() != nil {
		s.mu.Unlock()
		_ = ps.Close()
		return nil, ErrClosed
	}
	s.ps, s.gone, s.acks = ps, make(chan struct{}), make(map[string]*ackState)
	topics := s.b.fan.Topics()
	channels := make([]string, len(topics))
	for i, t := range topics {
		channels[i] = s.b.keys.topicPrefix + t
		s.expect(channels[i])
	}
	s.mu.Unlock()
	if len(channels) == 0 {
		return ps, nil
	}
	if err := s.send(ctx, ps, true, channels...); err != nil {
		s.b.log.Warn("resubscribe failed", "topics", len(channels), "err", err)
	}
	// A topic whose last handler left while the batch was on its way may
	// have been unsubscribed before it: queue it again, the worker
	// rechecks.
	s.mu.Lock()
	for i, t := range topics {
		if !s.b.fan.Has(t) {
			s.unsubs = append(s.unsubs, channels[i])
		}
	}
	s.mu.Unlock()
	signalWake(s.wake)
	return ps, nil
}

// handshake dials ps and waits for the answer to a PING, so that a
// connection that opens but carries nothing (a network partition in front
// of Redis) does not count as restored. Nobody else reads ps yet.
func handshake(ctx context.Context, ps *goredis.PubSub) error {
	if err := ps.Ping(ctx); err != nil {
		return err
	}
	msg, err := ps.ReceiveTimeout(ctx, ioTimeout)
	if err != nil {
		return err
	}
	if _, ok := msg.(*goredis.Pong); !ok {
		return fmt.Errorf("unexpected reply %T to PING", msg)
	}
	return nil
}

// drop forgets ps (if it is still current) and closes it.
func (s *subscriber) drop(ps *goredis.PubSub) {
	s.mu.Lock()
	if s.ps == ps {
		s.ps, s.acks = nil, nil
		close(s.gone)
	}
	s.mu.Unlock()
	_ = ps.Close()
}

// run receives on ps until it breaks, then reconnects with backoff and
// calls the OnReconnect hooks, until the Bus closes.
func (s *subscriber) run(ps *goredis.PubSub) {
	defer s.b.wg.Done()
	for {
		err := s.receive(ps)
		s.drop(ps)
		if s.b.ctx.Err() != nil {
			return
		}
		s.b.log.Warn("lost the Redis subscriber connection; reconnecting", "err", err)
		if ps = s.reconnect(); ps == nil {
			return
		}
		s.b.log.Info("Redis subscriber connection restored; events may have been missed")
		s.b.presence.kick()
		s.fireHooks()
	}
}

func (s *subscriber) reconnect() *goredis.PubSub {
	for attempt := 0; ; attempt++ {
		select {
		case <-s.b.ctx.Done():
			return nil
		case <-time.After(backoff(attempt)):
		}
		ctx, cancel := context.WithTimeout(s.b.ctx, ioTimeout)
		ps, err := s.connect(ctx)
		cancel()
		if err == nil {
			return ps
		}
		if errors.Is(err, ErrClosed) {
			return nil
		}
		s.b.log.Debug("Redis reconnect attempt failed", "attempt", attempt+1, "err", err)
	}
}

// backoff doubles from backoffMin up to backoffMax, with jitter so that the
// nodes of a cluster do not reconnect in lockstep after an outage.
func backoff(attempt int) time.Duration {
	d := backoffMax
	if attempt < 10 {
		d = min(backoffMin<<attempt, backoffMax)
	}
	return d/2 + rand.N(d/2+1)
}

// receive dispatches what arrives on ps until the connection fails. When
// nothing arrives for a while it sends a PING: a dead peer that never
// closed the TCP connection is detected by the missing PONG.
func (s *subscriber) receive(ps *goredis.PubSub) error {
	awaitingPong := false
	for {
		msg, err := ps.ReceiveTimeout(s.b.ctx, s.b.opts.healthEvery)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || awaitingPong || s.b.ctx.Err() != nil {
				return err
			}
			awaitingPong = true
			if err := ps.Ping(s.b.ctx); err != nil {
				return err
			}
			continue
		}
		awaitingPong = false
		switch m := msg.(type) {
		case *goredis.Message:
			if topic, ok := strings.CutPrefix(m.Channel, s.b.keys.topicPrefix); ok {
				s.b.fan.Deliver(topic, []byte(m.Payload))
			}
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				s.confirm(ps, m.Channel)
			}
		}
	}
}

func (s *subscriber) onReconnect(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, f)
}

// fireHooks runs the OnReconnect hooks on a goroutine of their own, so a
// hook that subscribes (and waits for a confirmation this goroutine would
// have to read) cannot deadlock.
func (s *subscriber) fireHooks() {
	s.mu.Lock()
	hooks := slices.Clone(s.hooks)
	s.mu.Unlock()
	if len(hooks) == 0 {
		return
	}
	s.b.wg.Go(func() {
		for _, f := range hooks {
			f()
		}
	})
}

// up reports whether the subscriber connection is established.
func (s *subscriber) up() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ps != nil
}

// close unblocks the receive loop at Close; run then drops the connection.
func (s *subscriber) close() {
	s.mu.Lock()
	ps := s.ps
	s.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
}
