package bolt

import (
	"context"
	"encoding/binary"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

func msgKey(conv string, seq int64) []byte {
	return binary.BigEndian.AppendUint64(prefix(conv), uint64(seq))
}

// PutMessage stores a message durably (group commit).
func (s *Store) PutMessage(ctx context.Context, m *store.Message) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		msgs, txns := tx.Bucket(bMsgs), tx.Bucket(bTxns)
		key := msgKey(m.ConversationID, m.Seq)
		if msgs.Get(key) != nil {
			return store.ErrConflict
		}
		if m.TxnID != "" {
			tk := join(m.Sender, m.TxnID)
			if txns.Get(tk) != nil {
				return store.ErrConflict
			}
			if err := txns.Put(tk, []byte(m.ID)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bMsgIDs).Put([]byte(m.ID), key); err != nil {
			return err
		}
		if !m.ExpiresAt.IsZero() {
			if err := tx.Bucket(bExpiry).Put(timeKey(m.ExpiresAt, m.ID), nil); err != nil {
				return err
			}
		}
		return putJSON(msgs, key, m)
	})
}

// GetMessage loads a message by id.
func (s *Store) GetMessage(ctx context.Context, id string) (*store.Message, error) {
	var m store.Message
	err := s.view(ctx, func(tx *bolt.Tx) error {
		key := tx.Bucket(bMsgIDs).Get([]byte(id))
		if key == nil {
			return store.ErrNotFound
		}
		return getJSON(tx.Bucket(bMsgs), key, &m)
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// GetMessageByTxn finds the message a sender created with txnID.
func (s *Store) GetMessageByTxn(ctx context.Context, sender, txnID string) (*store.Message, error) {
	var id []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bTxns).Get(join(sender, txnID)); v != nil {
			id = append(id, v...)
			return nil
		}
		return store.ErrNotFound
	})
	if err != nil {
		return nil, err
	}
	return s.GetMessage(ctx, string(id))
}

func live(m *store.Message, now time.Time) bool {
	return m.ExpiresAt.IsZero() || now.Before(m.ExpiresAt)
}

// ListMessages returns a range of a conversation, oldest first.
func (s *Store) ListMessages(ctx context.Context, conv string, r store.MessageRange) ([]*store.Message, error) {
	if r.Limit <= 0 {
		r.Limit = 50
	}
	var out []*store.Message
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bMsgs).Cursor()
		p := prefix(conv)
		upper := msgKey(conv, r.BeforeSeq)
		if r.BeforeSeq <= 0 {
			upper = msgKey(conv, 1<<62)
		}
		inRange := func(k []byte) bool {
			return k != nil && hasPrefix(k, p) && string(k) < string(upper)
		}
		collect := func(v []byte) error {
			var m store.Message
			if err := jsonUnmarshal(v, &m); err != nil {
				return err
			}
			if live(&m, r.Now) {
				out = append(out, &m)
			}
			return nil
		}
		if r.AfterSeq > 0 {
			for k, v := c.Seek(msgKey(conv, r.AfterSeq+1)); inRange(k) && len(out) < r.Limit; k, v = c.Next() {
				if err := collect(v); err != nil {
					return err
				}
			}
			return nil
		}
		// Newest first from the upper bound, then reversed.
		k, v := c.Seek(upper)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; inRange(k) && len(out) < r.Limit; k, v = c.Prev() {
			if err := collect(v); err != nil {
				return err
			}
		}
		slices.Reverse(out)
		return nil
	})
	return out, err
}

// CountMessages counts live messages after a seq not sent by notSender.
func (s *Store) CountMessages(ctx context.Context, conv string, afterSeq int64, notSender string, now time.Time) (int, error) {
	n := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bMsgs).Cursor()
		p := prefix(conv)
		for k, v := c.Seek(msgKey(conv, afterSeq+1)); k != nil && hasPrefix(k, p); k, v = c.Next() {
			var m store.Message
			if err := jsonUnmarshal(v, &m); err != nil {
				return err
			}
			if m.Sender != notSender && live(&m, now) {
				n++
			}
		}
		return nil
	})
	return n, err
}

// SetMessagesExpiry starts the after_read timers of messages up to a seq.
func (s *Store) SetMessagesExpiry(ctx context.Context, conv, recipient string, uptoSeq int64, readAt time.Time) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		msgs, exp := tx.Bucket(bMsgs), tx.Bucket(bExpiry)
		c := msgs.Cursor()
		end := msgKey(conv, uptoSeq)
		var updates []*store.Message
		for k, v := c.Seek(prefix(conv)); k != nil && string(k) <= string(end); k, v = c.Next() {
			var m store.Message
			if err := jsonUnmarshal(v, &m); err != nil {
				return err
			}
			if m.Recipient == recipient && m.TTLAfterRead > 0 && m.ExpiresAt.IsZero() {
				m.ExpiresAt = readAt.Add(time.Duration(m.TTLAfterRead) * time.Second)
				updates = append(updates, &m)
			}
		}
		for _, m := range updates {
			if err := exp.Put(timeKey(m.ExpiresAt, m.ID), nil); err != nil {
				return err
			}
			if err := putJSON(msgs, msgKey(conv, m.Seq), m); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListExpiredMessages lists messages whose expiry has passed.
func (s *Store) ListExpiredMessages(ctx context.Context, now time.Time, limit int) ([]*store.Message, error) {
	var out []*store.Message
	end := timeKey(now, "\xff")
	err := s.view(ctx, func(tx *bolt.Tx) error {
		msgs, ids := tx.Bucket(bMsgs), tx.Bucket(bMsgIDs)
		c := tx.Bucket(bExpiry).Cursor()
		for k, _ := c.First(); k != nil && string(k) <= string(end) && len(out) < limit; k, _ = c.Next() {
			key := ids.Get(k[8:])
			if key == nil {
				continue // index entry of a message already gone
			}
			var m store.Message
			if err := getJSON(msgs, key, &m); err != nil {
				return err
			}
			out = append(out, &m)
		}
		return nil
	})
	return out, err
}

// DeleteMessages removes messages with their index entries.
func (s *Store) DeleteMessages(ctx context.Context, ids []string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		for _, id := range ids {
			key := tx.Bucket(bMsgIDs).Get([]byte(id))
			if key == nil {
				continue
			}
			if err := deleteMessage(tx, append([]byte(nil), key...)); err != nil {
				return err
			}
		}
		return nil
	})
}

func deleteMessage(tx *bolt.Tx, key []byte) error {
	msgs := tx.Bucket(bMsgs)
	var m store.Message
	if err := getJSON(msgs, key, &m); err != nil {
		return err
	}
	if m.TxnID != "" {
		if err := tx.Bucket(bTxns).Delete(join(m.Sender, m.TxnID)); err != nil {
			return err
		}
	}
	if !m.ExpiresAt.IsZero() {
		if err := tx.Bucket(bExpiry).Delete(timeKey(m.ExpiresAt, m.ID)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bMsgIDs).Delete([]byte(m.ID)); err != nil {
		return err
	}
	return msgs.Delete(key)
}

func deleteConvMessages(tx *bolt.Tx, conv string) error {
	p := prefix(conv)
	c := tx.Bucket(bMsgs).Cursor()
	for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Seek(p) {
		if err := deleteMessage(tx, append([]byte(nil), k...)); err != nil {
			return err
		}
	}
	return nil
}
