package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

const defaultMessagePage = 50

// msgKey is a message's key in bMsgs: its conversation's messages are one
// contiguous run of keys, ordered by seq, so every range is a cursor walk.
func msgKey(conv string, seq int64) []byte { return seqKey(prefix(conv), seq) }

// PutMessage stores a message durably. ErrConflict when its id, its
// (ConversationID, Seq) or its (Sender, TxnID) is taken.
func (s *Store) PutMessage(ctx context.Context, m *store.Message) error {
	if err := checkNewMessage(m); err != nil {
		return err
	}
	key := msgKey(m.ConversationID, m.Seq)
	return s.update(ctx, func(tx *bolt.Tx) error {
		// Every check before the first write, so a conflict leaves nothing.
		if tx.Bucket(bMsgs).Get(key) != nil {
			return conflict("message seq", key)
		}
		if tx.Bucket(bMsgIDs).Get([]byte(m.ID)) != nil {
			return conflict("message", []byte(m.ID))
		}
		if err := checkTxnFree(tx, m); err != nil {
			return err
		}
		return insertMessage(tx, key, m)
	})
}

// checkNewMessage refuses ids that cannot be stored and a txn message
// without its derived id (store.CheckTxnMessage).
func checkNewMessage(m *store.Message) error {
	if err := checkIDs(m.ID, m.ConversationID, m.Sender); err != nil {
		return err
	}
	return store.CheckTxnMessage(m)
}

// checkTxnFree answers ErrConflict when m's (Sender, TxnID) names a stored
// message. An index entry whose message is missing blocks nothing: this
// store never writes one, but a store must not turn such a leftover into
// a lost send (the retry would find neither a message nor a way to store
// one).
func checkTxnFree(tx *bolt.Tx, m *store.Message) error {
	if m.TxnID == "" {
		return nil
	}
	tk := join(m.Sender, m.TxnID)
	if id := tx.Bucket(bTxns).Get(tk); id != nil && tx.Bucket(bMsgIDs).Get(id) != nil {
		return conflict("transaction", tk)
	}
	return nil
}

// insertMessage writes a message and all its index entries.
func insertMessage(tx *bolt.Tx, key []byte, m *store.Message) error {
	if m.TxnID != "" {
		if err := tx.Bucket(bTxns).Put(join(m.Sender, m.TxnID), []byte(m.ID)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bMsgIDs).Put([]byte(m.ID), key); err != nil {
		return err
	}
	if !m.ExpiresAt.IsZero() {
		if err := tx.Bucket(bExpiry).Put(timeKey(m.ExpiresAt, m.ID), []byte{}); err != nil {
			return err
		}
	}
	if err := indexAfterRead(tx, m); err != nil {
		return err
	}
	if err := enqueueMessageTx(tx, m); err != nil {
		return err
	}
	return putMessageRec(tx, key, m)
}

// putMessageRec stores m under key in its binary record
// (store.AppendMessageRecord): a tenth of the cost of JSON both ways.
func putMessageRec(tx *bolt.Tx, key []byte, m *store.Message) error {
	return tx.Bucket(bMsgs).Put(key, store.AppendMessageRecord(make([]byte, 0, 200+len(m.Body)), m))
}

// getMessageRec loads the message under key, binary or (written before
// the binary record) JSON.
func getMessageRec(tx *bolt.Tx, key []byte, m *store.Message) error {
	raw := tx.Bucket(bMsgs).Get(key)
	if raw == nil {
		return notFound(string(bMsgs), key)
	}
	return decodeMessageInto(raw, m)
}

// GetMessage loads a message by id.
func (s *Store) GetMessage(ctx context.Context, id string) (*store.Message, error) {
	var m *store.Message
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		m, err = loadMessage(tx, []byte(id))
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// GetMessageByTxn finds the message sender created with txnID.
func (s *Store) GetMessageByTxn(ctx context.Context, sender, txnID string) (*store.Message, error) {
	var m *store.Message
	err := s.view(ctx, func(tx *bolt.Tx) error {
		tk := join(sender, txnID)
		id := tx.Bucket(bTxns).Get(tk)
		if id == nil {
			return notFound("transaction", tk)
		}
		var err error
		m, err = loadMessage(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func loadMessage(tx *bolt.Tx, id []byte) (*store.Message, error) {
	key := tx.Bucket(bMsgIDs).Get(id)
	if key == nil {
		return nil, notFound("message", id)
	}
	m := new(store.Message)
	if err := getMessageRec(tx, key, m); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeMessage(v []byte) (*store.Message, error) {
	m := new(store.Message)
	if err := decodeMessageInto(v, m); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeMessageInto(v []byte, m *store.Message) error {
	var err error
	if len(v) > 0 && v[0] == store.MessageRecordMagic {
		err = store.DecodeMessageRecord(v, m)
	} else {
		err = json.Unmarshal(v, m)
	}
	if err != nil {
		return fmt.Errorf("bolt: decode message: %w", err)
	}
	return nil
}

// live reports whether m is unexpired at now.
func live(m *store.Message, now time.Time) bool {
	return m.ExpiresAt.IsZero() || now.Before(m.ExpiresAt)
}

// ListMessages returns a range of a conversation, oldest first: with
// AfterSeq the oldest r.Limit after it, otherwise the newest r.Limit below
// BeforeSeq (or below the end). Expired messages are skipped and do not
// count against the limit.
func (s *Store) ListMessages(ctx context.Context, conv string, r store.MessageRange) ([]*store.Message, error) {
	limit := limitOr(r.Limit, defaultMessagePage)
	lo := prefix(conv) // inclusive
	if r.AfterSeq > 0 {
		lo = msgKey(conv, r.AfterSeq+1)
	}
	hi := prefixEnd(conv) // exclusive
	if r.BeforeSeq > 0 {
		hi = msgKey(conv, r.BeforeSeq)
	}
	var out []*store.Message
	err := s.view(ctx, func(tx *bolt.Tx) error {
		take := func(v []byte) (bool, error) {
			m, err := decodeMessage(v)
			if err != nil {
				return false, err
			}
			if live(m, r.Now) {
				out = append(out, m)
			}
			return len(out) < limit, nil
		}
		c := tx.Bucket(bMsgs).Cursor()
		if r.AfterSeq > 0 {
			k, v := c.Seek(lo)
			return walk(k, v, c.Next, func(k []byte) bool { return bytes.Compare(k, hi) < 0 }, take)
		}
		k, v := seekBefore(c, hi)
		return walk(k, v, c.Prev, func(k []byte) bool { return bytes.Compare(k, lo) >= 0 }, take)
	})
	if err != nil {
		return nil, err
	}
	if r.AfterSeq <= 0 {
		slices.Reverse(out) // collected newest first
	}
	return out, nil
}

// prefixEnd is the first key after every message key of conv.
func prefixEnd(conv string) []byte { return append([]byte(conv), 1) }

// seekBefore positions c on the last key below hi.
func seekBefore(c *bolt.Cursor, hi []byte) ([]byte, []byte) {
	if k, _ := c.Seek(hi); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// walk steps a cursor from (k, v) with next while in(k) holds and take
// asks for more.
func walk(k, v []byte, next func() ([]byte, []byte), in func([]byte) bool, take func(v []byte) (bool, error)) error {
	for ; k != nil && in(k); k, v = next() {
		more, err := take(v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// CountMessages counts unexpired messages with seq > afterSeq that were
// not sent by notSender (the unread count).
func (s *Store) CountMessages(ctx context.Context, conv string, afterSeq int64, notSender string, now time.Time) (int, error) {
	n := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		p := prefix(conv)
		c := tx.Bucket(bMsgs).Cursor()
		k, v := c.Seek(msgKey(conv, afterSeq+1))
		return walk(k, v, c.Next, func(k []byte) bool { return bytes.HasPrefix(k, p) }, func(v []byte) (bool, error) {
			m, err := decodeMessage(v)
			if err != nil {
				return false, err
			}
			if m.Sender != notSender && live(m, now) {
				n++
			}
			return true, nil
		})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
