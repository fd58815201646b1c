package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// Federation buckets are created by the first write that needs them, so
// a store that never federates carries none of them (and no migration).
var (
	bOutbox     = []byte("fed_outbox")      // destination \0 order (big-endian) -> OutboxItem
	bOutboxIDs  = []byte("fed_outbox_ids")  // item id -> bOutbox key
	bOutboxFail = []byte("fed_outbox_fail") // destination -> outboxFailure
	bInbound    = []byte("fed_inbound")     // origin \0 txn id -> result
)

type outboxFailure struct {
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error"`
	NextAttempt time.Time `json:"next_attempt"`
}

var _ store.FederationQueue = (*Store)(nil)

func bucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	if !tx.Writable() {
		return tx.Bucket(name), nil
	}
	return tx.CreateBucketIfNotExists(name)
}

// enqueueTx appends item to its destination's outbox; an id queued
// already is left as it is.
func enqueueTx(tx *bolt.Tx, item store.OutboxItem) error {
	if err := checkIDs(item.ID, item.Destination, item.Kind); err != nil {
		return err
	}
	ob, err := bucket(tx, bOutbox)
	if err != nil {
		return err
	}
	ids, err := bucket(tx, bOutboxIDs)
	if err != nil {
		return err
	}
	if ids.Get([]byte(item.ID)) != nil {
		return nil
	}
	n, err := ob.NextSequence()
	if err != nil {
		return err
	}
	key := seqKey(prefix(item.Destination), int64(n))
	raw, err := json.Marshal(item)
	if err != nil {
		return err
	}
	if err := ids.Put([]byte(item.ID), key); err != nil {
		return err
	}
	return ob.Put(key, raw)
}

// enqueueMessageTx is the outbox half of storing a message with Outbox.
func enqueueMessageTx(tx *bolt.Tx, m *store.Message) error {
	if m.Outbox == "" {
		return nil
	}
	return enqueueTx(tx, store.MessageOutboxItem(m))
}

// EnqueueOutbox adds a non-message item.
func (s *Store) EnqueueOutbox(ctx context.Context, item store.OutboxItem) error {
	return s.update(ctx, func(tx *bolt.Tx) error { return enqueueTx(tx, item) })
}

// PeekOutbox returns the oldest items of dest.
func (s *Store) PeekOutbox(ctx context.Context, dest string, limit int) ([]store.OutboxItem, error) {
	limit = limitOr(limit, 50)
	var out []store.OutboxItem
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		if tx.Bucket(bOutbox) == nil {
			return nil
		}
		return scanPrefix(tx, bOutbox, prefix(dest), func(_, v []byte) (bool, error) {
			var it store.OutboxItem
			if err := json.Unmarshal(v, &it); err != nil {
				return false, fmt.Errorf("bolt: decode outbox item: %w", err)
			}
			out = append(out, it)
			return len(out) < limit, nil
		})
	})
	return out, err
}

// AckOutbox removes sent items and clears dest's failure record.
func (s *Store) AckOutbox(ctx context.Context, dest string, ids []string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		ob, err := bucket(tx, bOutbox)
		if err != nil {
			return err
		}
		idx, err := bucket(tx, bOutboxIDs)
		if err != nil {
			return err
		}
		p := prefix(dest)
		for _, id := range ids {
			key := idx.Get([]byte(id))
			if key == nil || !bytes.HasPrefix(key, p) {
				continue
			}
			key = bytes.Clone(key)
			if err := ob.Delete(key); err != nil {
				return err
			}
			if err := idx.Delete([]byte(id)); err != nil {
				return err
			}
		}
		fail, err := bucket(tx, bOutboxFail)
		if err != nil {
			return err
		}
		return fail.Delete([]byte(dest))
	})
}

// NoteOutboxFailure records a failed attempt.
func (s *Store) NoteOutboxFailure(ctx context.Context, dest, lastErr string, next time.Time) error {
	if err := checkIDs(dest); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucket(tx, bOutboxFail)
		if err != nil {
			return err
		}
		var f outboxFailure
		if raw := b.Get([]byte(dest)); raw != nil {
			if err := json.Unmarshal(raw, &f); err != nil {
				return err
			}
		}
		f.Attempts++
		f.LastError, f.NextAttempt = lastErr, next
		raw, err := json.Marshal(f)
		if err != nil {
			return err
		}
		return b.Put([]byte(dest), raw)
	})
}

// OutboxDestinations lists the destinations with items or failures.
func (s *Store) OutboxDestinations(ctx context.Context) ([]store.OutboxStats, error) {
	var out []store.OutboxStats
	err := s.view(ctx, func(tx *bolt.Tx) error {
		byDest := map[string]*store.OutboxStats{}
		get := func(d string) *store.OutboxStats {
			if st := byDest[d]; st != nil {
				return st
			}
			st := &store.OutboxStats{Destination: d}
			byDest[d] = st
			return st
		}
		if b := tx.Bucket(bOutbox); b != nil {
			err := b.ForEach(func(k, v []byte) error {
				i := bytes.IndexByte(k, 0)
				if i < 0 {
					return nil
				}
				st := get(string(k[:i]))
				if st.Depth == 0 {
					var it store.OutboxItem
					if err := json.Unmarshal(v, &it); err != nil {
						return err
					}
					st.Oldest = it.CreatedAt
				}
				st.Depth++
				return nil
			})
			if err != nil {
				return err
			}
		}
		if b := tx.Bucket(bOutboxFail); b != nil {
			err := b.ForEach(func(k, v []byte) error {
				var f outboxFailure
				if err := json.Unmarshal(v, &f); err != nil {
					return err
				}
				st := get(string(k))
				st.Attempts, st.LastError, st.NextAttempt = f.Attempts, f.LastError, f.NextAttempt
				return nil
			})
			if err != nil {
				return err
			}
		}
		out = out[:0]
		for _, st := range byDest {
			out = append(out, *st)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out, err
}

// GetInboundTxn returns the recorded result of a received transaction.
func (s *Store) GetInboundTxn(ctx context.Context, origin, txnID string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		k := join(origin, txnID)
		var v []byte
		if b := tx.Bucket(bInbound); b != nil {
			v = b.Get(k)
		}
		if v == nil {
			return notFound("inbound transaction", k)
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// PutInboundTxn records a result; the first writer wins.
func (s *Store) PutInboundTxn(ctx context.Context, origin, txnID string, result []byte) error {
	if err := checkIDs(origin, txnID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucket(tx, bInbound)
		if err != nil {
			return err
		}
		k := join(origin, txnID)
		if b.Get(k) != nil {
			return conflict("inbound transaction", k)
		}
		return b.Put(k, append([]byte{}, result...))
	})
}
