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
type subscriber struct {
	b *Bus

	mu    sync.Mutex
	ps    *goredis.PubSub      // nil while disconnected
	gone  chan struct{}        // closed when ps is dropped
	acks  map[string]*ackState // channel -> SUBSCRIBE replies awaited on ps
	hooks []func()
}

// ackState tracks the SUBSCRIBE replies still expected for one channel on
// the current connection. Subscribe returns only once Redis confirmed, so
// an event published right after Subscribe returns is not lost.
type ackState struct {
	pending int
	ready   chan struct{} // closed when pending drops to zero
	live    bool          // the topic has local handlers
}

func (s *subscriber) init(b *Bus) { s.b = b }

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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ps == nil {
		return nil, nil, nil, ErrUnavailable
	}
	handle, first := s.b.fan.Add(topic, h)
	channel := s.b.keys.topicPrefix + topic
	if !first {
		// Every topic with handlers has an ack state on the current
		// connection: connect creates them, remove keeps them while live.
		return handle, s.acks[channel].ready, s.gone, nil
	}
	st := s.expect(channel)
	if err := s.ps.Subscribe(ctx, channel); err != nil {
		// The connection broke; the receive loop notices, closes gone and
		// reconnects, so the waiter learns of it without a second path.
		s.b.log.Warn("SUBSCRIBE failed", "channel", channel, "err", err)
	}
	return handle, st.ready, s.gone, nil
}

// remove unregisters h and, for the topic's last handler, sends UNSUBSCRIBE.
func (s *subscriber) remove(h *local.Handle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.b.fan.Remove(h) {
		return
	}
	channel := s.b.keys.topicPrefix + h.Topic()
	if st := s.acks[channel]; st != nil {
		st.live = false
		if st.pending == 0 {
			delete(s.acks, channel)
		}
	}
	if s.ps == nil {
		return // the next connection subscribes only to live topics
	}
	ctx, cancel := context.WithTimeout(s.b.ctx, ioTimeout)
	defer cancel()
	if err := s.ps.Unsubscribe(ctx, channel); err != nil {
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
	defer s.mu.Unlock()
	if s.b.ctx.Err() != nil {
		_ = ps.Close()
		return nil, ErrClosed
	}
	s.ps, s.gone, s.acks = ps, make(chan struct{}), make(map[string]*ackState)
	topics := s.b.fan.Topics()
	if len(topics) == 0 {
		return ps, nil
	}
	channels := make([]string, len(topics))
	for i, t := range topics {
		channels[i] = s.b.keys.topicPrefix + t
		s.expect(channels[i])
	}
	if err := ps.Subscribe(ctx, channels...); err != nil {
		s.b.log.Warn("resubscribe failed", "topics", len(channels), "err", err)
	}
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
