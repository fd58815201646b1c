package bolt

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

var _ store.Appender = (*Store)(nil)

// AppendMessage gives m the next seq and stores it in the same group
// commit, so a message costs one fsync (shared with concurrent writers)
// instead of two.
func (s *Store) AppendMessage(ctx context.Context, m *store.Message, seal func(seq int64) ([]byte, error)) error {
	if err := checkNewMessage(m); err != nil {
		return err
	}
	var stored store.Message
	err := s.update(ctx, func(tx *bolt.Tx) error {
		c := new(store.Conversation) // may be replayed: start afresh
		if err := getJSON(tx, bConvs, []byte(m.ConversationID), c); err != nil {
			return err
		}
		if tx.Bucket(bMsgIDs).Get([]byte(m.ID)) != nil {
			return conflict("message", []byte(m.ID))
		}
		if err := checkTxnFree(tx, m); err != nil {
			return err
		}
		if err := unindexIdle(tx, c); err != nil {
			return err
		}
		c.LastSeq++
		c.LastMessageAt = m.CreatedAt
		c.IdleExpiresAt = idleDeadline(c, m.CreatedAt)
		if err := indexIdle(tx, c); err != nil {
			return err
		}
		if err := putJSON(tx, bConvs, []byte(c.ID), c); err != nil {
			return err
		}
		body, err := seal(c.LastSeq)
		if err != nil {
			return err
		}
		stored = *m
		stored.Seq, stored.Body = c.LastSeq, body
		return insertMessage(tx, msgKey(c.ID, c.LastSeq), &stored)
	})
	if err != nil {
		return err
	}
	m.Seq, m.Body = stored.Seq, stored.Body
	return nil
}
