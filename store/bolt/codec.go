package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// Buckets. Records are JSON under their id; the *_by_* and time buckets are
// secondary indexes whose keys are built with join, so that a prefix scan
// of one bucket answers each query without touching unrelated records.
var (
	bMeta         = []byte("meta")
	bUsers        = []byte("users")            // id -> User
	bUsersByLocal = []byte("users_by_local")   // localpart -> id
	bUsersByEmail = []byte("users_by_email")   // email -> id
	bSessions     = []byte("sessions")         // token hash -> Session
	bSessByUser   = []byte("sessions_by_user") // user id \0 token hash
	bConvs        = []byte("convs")            // id -> Conversation
	bConvByMember = []byte("convs_by_member")  // member \0 conversation id
	bIdle         = []byte("convs_idle")       // time + conversation id
	bMsgs         = []byte("msgs")             // conversation id \0 seq -> Message
	bMsgIDs       = []byte("msg_ids")          // message id -> msgs key
	bTxns         = []byte("txns")             // sender \0 txn id -> message id
	bExpiry       = []byte("msg_expiry")       // time + message id
	bAfterRead    = []byte("msg_after_read")   // conversation \0 recipient \0 seq -> message id (timer not started)
	bKeys         = []byte("keys")             // id -> DataKey
	bKeysByOwner  = []byte("keys_by_owner")    // owner \0 key id
	bFiles        = []byte("files")            // id -> File
	bFilesByConv  = []byte("files_by_conv")    // conversation id \0 file id
)

// errBadID: an id is empty or holds a NUL byte, which the index keys use
// as their separator; such ids could alias another record's index entry.
var errBadID = errors.New("bolt: invalid id")

// checkIDs refuses ids that cannot be stored safely.
func checkIDs(ids ...string) error {
	for _, id := range ids {
		if id == "" || strings.IndexByte(id, 0) >= 0 {
			return fmt.Errorf("%w: %q", errBadID, id)
		}
	}
	return nil
}

// notFound wraps store.ErrNotFound with what was looked for.
func notFound(what string, key []byte) error {
	return fmt.Errorf("bolt: %s %q: %w", what, key, store.ErrNotFound)
}

// conflict wraps store.ErrConflict with the constraint that was hit.
func conflict(what string, key []byte) error {
	return fmt.Errorf("bolt: %s %q exists: %w", what, key, store.ErrConflict)
}

// getJSON decodes the record under key of bucket name into v.
func getJSON(tx *bolt.Tx, name, key []byte, v any) error {
	raw := tx.Bucket(name).Get(key)
	if raw == nil {
		return notFound(string(name), key)
	}
	if c, ok := v.(*store.Conversation); ok && len(raw) > 0 && raw[0] == store.ConversationRecordMagic {
		if err := store.DecodeConversationRecord(raw, c); err != nil {
			return fmt.Errorf("bolt: decode %s %q: %w", name, key, err)
		}
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("bolt: decode %s %q: %w", name, key, err)
	}
	return nil
}

// putJSON stores v under key of bucket name.
//
// Conversations, rewritten on every message, are stored as their binary
// record instead (store.AppendConversationRecord); getJSON reads both.
func putJSON(tx *bolt.Tx, name, key []byte, v any) error {
	if c, ok := v.(*store.Conversation); ok {
		return tx.Bucket(name).Put(key, store.AppendConversationRecord(make([]byte, 0, 256), c))
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("bolt: encode %s %q: %w", name, key, err)
	}
	return tx.Bucket(name).Put(key, raw)
}

// join builds an index key: parts separated by NUL (checkIDs keeps NUL out
// of ids, so the parts can be told apart again).
func join(parts ...string) []byte {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

// prefix is the key prefix of every index entry that starts with parts.
func prefix(parts ...string) []byte { return append(join(parts...), 0) }

// seqKey appends a seq so that keys sort by seq (big-endian).
func seqKey(p []byte, seq int64) []byte {
	return binary.BigEndian.AppendUint64(p, uint64(max(seq, 0)))
}

// timePrefix encodes t so that keys sort by time. Instants before 1970
// are clamped to 0: they are simply "long past".
func timePrefix(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8+32), uint64(max(t.UnixNano(), 0)))
}

// timeKey is a time index entry for id.
func timeKey(t time.Time, id string) []byte { return append(timePrefix(t), id...) }

// scanDue calls fn with the id part of every entry of a time index bucket
// whose time is at or before now, oldest first, until fn returns false.
func scanDue(tx *bolt.Tx, name []byte, now time.Time, fn func(id []byte) (bool, error)) error {
	end := timePrefix(now)
	c := tx.Bucket(name).Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:8], end) <= 0; k, _ = c.Next() {
		more, err := fn(k[8:])
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// scanPrefix calls fn with the rest of every key of bucket name that starts
// with p, in key order, until fn returns false. fn must not write to the
// bucket.
func scanPrefix(tx *bolt.Tx, name, p []byte, fn func(rest, v []byte) (bool, error)) error {
	c := tx.Bucket(name).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		more, err := fn(k[len(p):], v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// deletePrefix removes every key of bucket name that starts with p, calling
// each (when non-nil) with the rest of the key and the value first. each
// may write to other buckets.
func deletePrefix(tx *bolt.Tx, name, p []byte, each func(rest, v []byte) error) error {
	b := tx.Bucket(name)
	c := b.Cursor()
	// Seek again after each delete: a cursor is not reliable across
	// deletes, and the copies keep k and v valid after the page changes.
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Seek(p) {
		k, v = bytes.Clone(k), bytes.Clone(v)
		if each != nil {
			if err := each(k[len(p):], v); err != nil {
				return err
			}
		}
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// seekAfter positions c on the first key strictly after cursor ("" means
// the first key).
func seekAfter(c *bolt.Cursor, cursor string) ([]byte, []byte) {
	if cursor == "" {
		return c.First()
	}
	k, v := c.Seek([]byte(cursor))
	if k != nil && string(k) == cursor {
		return c.Next()
	}
	return k, v
}
