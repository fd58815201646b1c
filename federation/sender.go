package federation

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/store"
)

// sender drains one destination's outbox, one transaction at a time, while
// this node holds the destination's lease. State:
//   - attempts, next: the backoff after failures (next: no attempt before);
//   - isolate: after a batch was refused whole (4xx), that many items are
//     sent one per transaction so only the bad one is dropped.
type sender struct {
	n    *Node
	dest string
	wake chan struct{} // capacity 1: wakes coalesce

	mu       sync.Mutex
	attempts int
	next     time.Time
	isolate  int
	// adoptAfter: the time of an operator's Retry; for RetryMax after it
	// the store's failure records (all older than the Retry, or this
	// node's own) are not adopted.
	adoptAfter time.Time
}

func newSender(n *Node, dest string) *sender {
	return &sender{n: n, dest: dest, wake: make(chan struct{}, 1)}
}

func (s *sender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// adopt takes over a failure record newer than ours (another node's, or
// this node's before a restart), so the cluster backs off together.
func (s *sender) adopt(st store.OutboxStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Now().Before(s.adoptAfter.Add(s.n.o.Config.RetryMax)) {
		return // every record noted before the Retry is due by then
	}
	if st.NextAttempt.After(s.next) {
		s.next = st.NextAttempt
		s.attempts = max(s.attempts, st.Attempts)
	}
}

func (s *sender) resetBackoff() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.attempts > 0
	s.attempts, s.next = 0, time.Time{}
	if was {
		s.adoptAfter = time.Now()
	}
	return was
}

func (s *sender) backingOff() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts > 0
}

func (s *sender) run(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
		again := s.drain(ctx)
		t.Stop()
		if again > 0 {
			t.Reset(again)
		}
	}
}

// drain sends until the outbox is empty (0: wait for a wake) or a pause is
// due (the returned delay: backoff, or the lease is another node's).
func (s *sender) drain(ctx context.Context) time.Duration {
	n := s.n
	for ctx.Err() == nil {
		s.mu.Lock()
		wait := time.Until(s.next)
		limit := MaxTransactionEvents
		if s.isolate > 0 {
			limit = 1
		}
		s.mu.Unlock()
		if wait > 0 {
			return wait
		}
		items, err := n.o.Queue.PeekOutbox(ctx, s.dest, limit)
		if err != nil {
			n.log.WarnContext(ctx, "federation outbox read failed", "destination", s.dest, "err", err)
			return n.o.Config.RetryMin
		}
		if len(items) == 0 {
			n.m.queued.WithLabelValues(s.dest).Set(0)
			return 0
		}
		if n.o.Locker != nil {
			held, err := n.o.Locker.TryLease(ctx, "fedsend:"+s.dest, n.o.LeaseTTL)
			if err != nil || !held {
				// Another node sends; look again in case it dies.
				return n.o.LeaseTTL / 2
			}
		}
		if d, stop := s.sendBatch(ctx, items); stop {
			return d
		}
	}
	return 0
}

// sendBatch sends one transaction of items; stop reports a pause of d.
func (s *sender) sendBatch(ctx context.Context, items []store.OutboxItem) (d time.Duration, stop bool) {
	n := s.n
	ids := make([]string, len(items))
	out := make([]chat.RemoteEvent, 0, len(items))
	for i, it := range items {
		ids[i] = it.ID
		ev, err := n.o.Chat.Outgoing(ctx, it)
		if isGone(err) {
			continue // deleted meanwhile: acked with the batch, nothing to send
		}
		if err != nil {
			return s.fail(ctx, err), true
		}
		out = append(out, ev)
	}
	var events []*Event
	for _, ev := range latestReceipts(out) {
		e, err := n.sign(ev)
		if err != nil {
			// Never sendable (too large, malformed): retrying cannot help.
			n.m.dropped.WithLabelValues(s.dest).Inc()
			n.log.WarnContext(ctx, "federation event dropped: cannot be signed", "destination", s.dest, "type", ev.Type, "err", err)
			continue
		}
		events = append(events, e)
	}
	if len(events) > 0 {
		sctx, cancel := context.WithTimeout(ctx, n.resolver.timeout())
		results, err := n.client.SendTransaction(sctx, s.dest, TxnIDFor(ids), events)
		cancel()
		var pe *PeerError
		switch {
		case errors.As(err, &pe) && permanent(pe.Status):
			if len(events) > 1 {
				s.mu.Lock()
				s.isolate = len(items)
				s.mu.Unlock()
				return 0, false
			}
			n.m.dropped.WithLabelValues(s.dest).Inc()
			n.log.WarnContext(ctx, "federation event refused by the destination; dropped", "destination", s.dest, "item", items[0].ID, "err", err)
		case errors.Is(err, ErrServerNotAllowed):
			// The operator's lists forbid the destination: its items can
			// never go, and must not sit in the outbox for ever.
			n.m.dropped.WithLabelValues(s.dest).Add(float64(len(events)))
			n.log.WarnContext(ctx, "federation events dropped: destination not allowed", "destination", s.dest, "events", len(events))
		case err != nil:
			return s.fail(ctx, err), true
		default:
			n.m.sent.WithLabelValues(s.dest).Add(float64(len(events)))
			for id, r := range results {
				if r != nil {
					n.log.InfoContext(ctx, "federation event refused by the destination", "destination", s.dest, "event", id, "errcode", r.Errcode, "msg", r.Msg)
				}
			}
		}
	}
	if err := n.o.Queue.AckOutbox(ctx, s.dest, ids); err != nil {
		// Sent but not acked: the retransmission reuses the txn id (same
		// items) and the receiver answers with the original result.
		n.log.WarnContext(ctx, "federation outbox ack failed", "destination", s.dest, "err", err)
		return n.o.Config.RetryMin, true
	}
	s.mu.Lock()
	s.isolate = max(0, s.isolate-len(items))
	had := s.attempts > 0
	s.attempts, s.next = 0, time.Time{}
	s.mu.Unlock()
	if had {
		n.m.retryDelay.WithLabelValues(s.dest).Set(0)
	}
	return 0, false
}

// fail records a failed attempt and returns the backoff: RetryMin doubled
// per consecutive failure, capped at RetryMax, times a jitter in [0.5, 1),
// and at least the peer's Retry-After.
func (s *sender) fail(ctx context.Context, err error) time.Duration {
	n := s.n
	s.mu.Lock()
	s.attempts++
	d := Backoff(n.o.Config.RetryMin, n.o.Config.RetryMax, s.attempts, rand.Float64())
	var pe *PeerError
	if errors.As(err, &pe) && pe.RetryAfter > d {
		d = min(pe.RetryAfter, n.o.Config.RetryMax)
	}
	s.next = time.Now().Add(d)
	next := s.next
	s.mu.Unlock()
	n.m.failed.WithLabelValues(s.dest).Inc()
	n.m.retryDelay.WithLabelValues(s.dest).Set(d.Seconds())
	n.log.InfoContext(ctx, "federation send failed; will retry", "destination", s.dest, "retry_in", d.String(), "err", err)
	if e := n.o.Queue.NoteOutboxFailure(ctx, s.dest, truncate(err.Error(), 500), next); e != nil {
		n.log.WarnContext(ctx, "federation failure not recorded", "destination", s.dest, "err", e)
	}
	return d
}

// Backoff is the delay after the attempt-th consecutive failure:
// min(max, min·2^(attempt-1)) scaled by jitter in [0.5, 1).
func Backoff(minD, maxD time.Duration, attempt int, jitter float64) time.Duration {
	d := maxD
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 40 {
		if x := minD << (attempt - 1); x > 0 && x < maxD {
			d = x
		}
	}
	return time.Duration(float64(d) * (0.5 + jitter/2))
}

// permanent statuses mean the peer read the transaction and refuses it as
// it is: retrying the same bytes cannot help. 401 (it may not have our
// keys yet), 404 (federation not mounted yet), 408, 429 and 5xx are
// retried.
func permanent(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusForbidden || status == http.StatusRequestEntityTooLarge
}

func isGone(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, store.ErrNotFound) {
		return true
	}
	var e *chat.Error
	return errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusGone)
}

// TxnIDFor derives a transaction id from the outbox item ids it carries:
// a batch sent again after a crash or a lost answer has the same id, so
// the receiver answers it with the original result; a batch that differs
// (items added or acked meanwhile) has another id, and its events already
// received are recognised by event id.
func TxnIDFor(itemIDs []string) string {
	h := sha256.Sum256([]byte(strings.Join(itemIDs, "\x00")))
	return base64.RawURLEncoding.EncodeToString(h[:18])
}

func randomTxnID() string {
	var b [18]byte
	_, _ = crand.Read(b[:])
	return "e" + base64.RawURLEncoding.EncodeToString(b[:])
}

// latestReceipts drops every receipt that a later one of the same batch
// supersedes (same sender, recipient, conversation and kind): a receipt
// names the newest message it covers, so only the last one says anything,
// and under load receipts are most of the outbox. Order is kept.
func latestReceipts(evs []chat.RemoteEvent) []chat.RemoteEvent {
	type key struct{ sender, recipient, conv, kind string }
	seen := map[key]bool{}
	keep := make([]bool, len(evs))
	for i := len(evs) - 1; i >= 0; i-- {
		ev := evs[i]
		keep[i] = true
		if ev.Type != chat.FedReceipt {
			continue
		}
		var c struct {
			Kind string `json:"kind"`
		}
		if json.Unmarshal(ev.Content, &c) != nil {
			continue // sent as it is: the receiver judges it
		}
		k := key{ev.Sender, ev.Recipient, ev.ConversationID, c.Kind}
		keep[i] = !seen[k]
		seen[k] = true
	}
	out := evs[:0]
	for i, ev := range evs {
		if keep[i] {
			out = append(out, ev)
		}
	}
	return out
}
