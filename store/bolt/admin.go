package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// ListUserSessions walks the user's session index.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]*store.Session, error) {
	if err := checkIDs(userID); err != nil {
		return nil, err
	}
	var out []*store.Session
	err := s.view(ctx, func(tx *bolt.Tx) error {
		p := prefix(userID)
		c := tx.Bucket(bSessByUser).Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			sess := new(store.Session)
			if err := getJSON(tx, bSessions, k[len(p):], sess); err != nil {
				return err
			}
			out = append(out, store.FillDevice(sess))
		}
		return nil
	})
	return out, err
}

// Count scans users, sessions, files and keys (their records are small
// and few next to messages) and takes conversations and messages from the
// buckets' key counts.
func (s *Store) Count(ctx context.Context, dayAgo, monthAgo time.Time) (*store.Counts, error) {
	n := &store.Counts{DataKeys: map[string]int64{}}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		each := func(name []byte, fn func(v []byte) error) error {
			return tx.Bucket(name).ForEach(func(_, v []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				return fn(v)
			})
		}
		if err := each(bUsers, func(v []byte) error {
			var u store.User
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			n.Users++
			if u.Deactivated {
				n.Deactivated++
			}
			if u.Admin {
				n.Admins++
			}
			return nil
		}); err != nil {
			return err
		}
		day, month := map[string]bool{}, map[string]bool{}
		if err := each(bSessions, func(v []byte) error {
			var sess store.Session
			if err := json.Unmarshal(v, &sess); err != nil {
				return err
			}
			if !sess.CreatedAt.Before(dayAgo) {
				day[sess.UserID] = true
			}
			if !sess.CreatedAt.Before(monthAgo) {
				month[sess.UserID] = true
			}
			return nil
		}); err != nil {
			return err
		}
		n.ActiveDay, n.ActiveMonth = int64(len(day)), int64(len(month))
		n.Conversations = int64(tx.Bucket(bConvs).Stats().KeyN)
		n.Messages = int64(tx.Bucket(bMsgs).Stats().KeyN)
		if err := each(bFiles, func(v []byte) error {
			var f store.File
			if err := json.Unmarshal(v, &f); err != nil {
				return err
			}
			n.Files++
			n.FileBytes += f.Size
			if f.KeyID != "" {
				n.FileKeys++
			}
			return nil
		}); err != nil {
			return err
		}
		return each(bKeys, func(v []byte) error {
			var k struct {
				MasterVersion string `json:"master_version"`
			}
			if err := json.Unmarshal(v, &k); err != nil {
				return err
			}
			n.DataKeys[k.MasterVersion]++
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// DeleteUser removes the record and its two index entries.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	if err := checkIDs(id); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		var u store.User
		if err := getJSON(tx, bUsers, []byte(id), &u); err != nil {
			return err
		}
		if err := tx.Bucket(bUsersByLocal).Delete([]byte(u.Localpart)); err != nil {
			return err
		}
		if u.Email != "" {
			if err := tx.Bucket(bUsersByEmail).Delete([]byte(u.Email)); err != nil {
				return err
			}
		}
		return tx.Bucket(bUsers).Delete([]byte(id))
	})
}

// ResealMessage swaps body and key id in place, in one transaction.
func (s *Store) ResealMessage(ctx context.Context, id, fromKey, toKey string, body []byte) error {
	if err := checkIDs(id, toKey); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		key := tx.Bucket(bMsgIDs).Get([]byte(id))
		if key == nil {
			return notFound("message", []byte(id))
		}
		key = bytes.Clone(key)
		m := new(store.Message)
		if err := getMessageRec(tx, key, m); err != nil {
			return err
		}
		if m.KeyID != fromKey {
			return conflict("message key", []byte(id))
		}
		m.KeyID, m.Body = toKey, body
		return putMessageRec(tx, key, m)
	})
}
