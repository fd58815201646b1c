package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// afterReadKey is m's entry in bAfterRead: per conversation and recipient,
// ordered by seq, so "everything up to seq that recipient read" is one
// short prefix walk.
func afterReadKey(m *store.Message) []byte {
	return seqKey(prefix(m.ConversationID, m.Recipient), m.Seq)
}

// pendingAfterRead reports whether m waits for its read to start its timer.
func pendingAfterRead(m *store.Message) bool { return m.TTLAfterRead > 0 && m.ExpiresAt.IsZero() }

func indexAfterRead(tx *bolt.Tx, m *store.Message) error {
	if !pendingAfterRead(m) {
		return nil
	}
	return tx.Bucket(bAfterRead).Put(afterReadKey(m), []byte(m.ID))
}

// SetMessagesExpiry starts the after_read timers of recipient's messages
// up to uptoSeq: ExpiresAt = readAt + TTLAfterRead. A message whose timer
// runs already keeps it.
func (s *Store) SetMessagesExpiry(ctx context.Context, conv, recipient string, uptoSeq int64, readAt time.Time) error {
	p := prefix(conv, recipient)
	end := seqKey(bytes.Clone(p), uptoSeq)
	return s.update(ctx, func(tx *bolt.Tx) error {
		var due [][]byte
		err := scanPrefix(tx, bAfterRead, p, func(rest, _ []byte) (bool, error) {
			if bytes.Compare(rest, end[len(p):]) > 0 {
				return false, nil
			}
			due = append(due, bytes.Clone(rest))
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, seq := range due {
			if err := startTimer(tx, msgKey(conv, int64(binary.BigEndian.Uint64(seq))), readAt); err != nil {
				return err
			}
			if err := tx.Bucket(bAfterRead).Delete(append(bytes.Clone(p), seq...)); err != nil {
				return err
			}
		}
		return nil
	})
}

// startTimer sets the expiry of the message under key, if it still waits.
func startTimer(tx *bolt.Tx, key []byte, readAt time.Time) error {
	var m store.Message
	if err := getMessageRec(tx, key, &m); err != nil {
		return err
	}
	if !pendingAfterRead(&m) {
		return nil
	}
	m.ExpiresAt = readAt.Add(time.Duration(m.TTLAfterRead) * time.Second)
	if err := tx.Bucket(bExpiry).Put(timeKey(m.ExpiresAt, m.ID), []byte{}); err != nil {
		return err
	}
	return putMessageRec(tx, key, &m)
}

// ListExpiredMessages returns up to limit messages (any conversation)
// whose expiry is at or before now, most overdue first.
func (s *Store) ListExpiredMessages(ctx context.Context, now time.Time, limit int) ([]*store.Message, error) {
	limit = limitOr(limit, defaultPageLimit)
	var out []*store.Message
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return scanDue(tx, bExpiry, now, func(id []byte) (bool, error) {
			m, err := loadMessage(tx, id)
			if err != nil {
				return false, err
			}
			out = append(out, m)
			return len(out) < limit, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteMessages removes messages by id with their index entries; unknown
// ids are ignored.
func (s *Store) DeleteMessages(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return ctxErr(ctx)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		for _, id := range ids {
			key := tx.Bucket(bMsgIDs).Get([]byte(id))
			if key == nil {
				continue
			}
			key = bytes.Clone(key) // the delete below may move its page
			var m store.Message
			if err := getMessageRec(tx, key, &m); err != nil {
				return err
			}
			if err := unindexMessage(tx, &m); err != nil {
				return err
			}
			if err := tx.Bucket(bMsgs).Delete(key); err != nil {
				return err
			}
		}
		return nil
	})
}

// unindexMessage removes every index entry of m (not m itself).
func unindexMessage(tx *bolt.Tx, m *store.Message) error {
	if m.TxnID != "" {
		// Only if it still names m: never drop another message's entry.
		tk := join(m.Sender, m.TxnID)
		if string(tx.Bucket(bTxns).Get(tk)) == m.ID {
			if err := tx.Bucket(bTxns).Delete(tk); err != nil {
				return err
			}
		}
	}
	if !m.ExpiresAt.IsZero() {
		if err := tx.Bucket(bExpiry).Delete(timeKey(m.ExpiresAt, m.ID)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bAfterRead).Delete(afterReadKey(m)); err != nil {
		return err
	}
	return tx.Bucket(bMsgIDs).Delete([]byte(m.ID))
}

// deleteConvMessages removes every message of conv with its index entries.
func deleteConvMessages(tx *bolt.Tx, conv string) error {
	return deletePrefix(tx, bMsgs, prefix(conv), func(_, v []byte) error {
		m, err := decodeMessage(v)
		if err != nil {
			return err
		}
		return unindexMessage(tx, m)
	})
}
