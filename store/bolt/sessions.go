package bolt

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// PutSession stores a session under its token hash, replacing one with the
// same hash.
func (s *Store) PutSession(ctx context.Context, sess *store.Session) error {
	if err := checkIDs(sess.TokenHash, sess.UserID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		// A replaced session may have belonged to another user: move its
		// index entry, so revoking either user finds exactly their tokens.
		var old store.Session
		if err := getJSON(tx, bSessions, []byte(sess.TokenHash), &old); err == nil {
			if err := tx.Bucket(bSessByUser).Delete(join(old.UserID, old.TokenHash)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bSessByUser).Put(join(sess.UserID, sess.TokenHash), []byte{}); err != nil {
			return err
		}
		return putJSON(tx, bSessions, []byte(sess.TokenHash), sess)
	})
}

// GetSession finds a session by token hash; expiry is the caller's check.
func (s *Store) GetSession(ctx context.Context, tokenHash string) (*store.Session, error) {
	sess := new(store.Session)
	if err := s.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx, bSessions, []byte(tokenHash), sess) }); err != nil {
		return nil, err
	}
	return store.FillDevice(sess), nil
}

// DeleteSession revokes one token; store.ErrNotFound if it is unknown.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		var sess store.Session
		if err := getJSON(tx, bSessions, []byte(tokenHash), &sess); err != nil {
			return err
		}
		if err := tx.Bucket(bSessByUser).Delete(join(sess.UserID, tokenHash)); err != nil {
			return err
		}
		return tx.Bucket(bSessions).Delete([]byte(tokenHash))
	})
}

// DeleteUserSessions revokes every token of a user and returns how many.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.update(ctx, func(tx *bolt.Tx) error {
		n = 0 // fn may be replayed
		sessions := tx.Bucket(bSessions)
		return deletePrefix(tx, bSessByUser, prefix(userID), func(hash, _ []byte) error {
			n++
			return sessions.Delete(hash)
		})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
