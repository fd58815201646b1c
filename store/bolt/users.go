package bolt

import (
	"context"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// PutUser creates a user; the localpart and email must be free.
func (s *Store) PutUser(ctx context.Context, u *store.User) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		byLocal, byEmail := tx.Bucket(bUsersByLocal), tx.Bucket(bUsersByEmail)
		if byLocal.Get([]byte(u.Localpart)) != nil || byEmail.Get([]byte(u.Email)) != nil || tx.Bucket(bUsers).Get([]byte(u.ID)) != nil {
			return store.ErrConflict
		}
		if err := byLocal.Put([]byte(u.Localpart), []byte(u.ID)); err != nil {
			return err
		}
		if err := byEmail.Put([]byte(u.Email), []byte(u.ID)); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bUsers), []byte(u.ID), u)
	})
}

// GetUser finds a user by internal id.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	var u store.User
	err := s.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bUsers), []byte(id), &u) })
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// GetUserByLocalpart finds a user by lower-cased username.
func (s *Store) GetUserByLocalpart(ctx context.Context, localpart string) (*store.User, error) {
	var u store.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bUsersByLocal).Get([]byte(localpart))
		if id == nil {
			return store.ErrNotFound
		}
		return getJSON(tx.Bucket(bUsers), id, &u)
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// UpdateUser replaces the mutable fields of an existing user.
func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		var old store.User
		if err := getJSON(tx.Bucket(bUsers), []byte(u.ID), &old); err != nil {
			return err
		}
		old.PasswordHash, old.AvatarImage, old.AvatarSet, old.Admin, old.Deactivated = u.PasswordHash, u.AvatarImage, u.AvatarSet, u.Admin, u.Deactivated
		return putJSON(tx.Bucket(bUsers), []byte(u.ID), &old)
	})
}

// ListUsers pages through users by localpart.
func (s *Store) ListUsers(ctx context.Context, q store.UserQuery) ([]*store.User, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	needle := strings.ToLower(q.Prefix)
	var out []*store.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		users := tx.Bucket(bUsers)
		c := tx.Bucket(bUsersByLocal).Cursor()
		k, v := c.First()
		if q.After != "" {
			k, v = c.Seek([]byte(q.After))
			if k != nil && string(k) == q.After {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < q.Limit; k, v = c.Next() {
			var u store.User
			if err := getJSON(users, v, &u); err != nil {
				return err
			}
			if needle == "" || strings.Contains(u.Localpart, needle) || strings.Contains(strings.ToLower(u.Username), needle) {
				out = append(out, &u)
			}
		}
		return nil
	})
	return out, err
}

// PutSession stores a token hash.
func (s *Store) PutSession(ctx context.Context, sess *store.Session) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bSessByUser).Put(join(sess.UserID, sess.TokenHash), nil); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bSessions), []byte(sess.TokenHash), sess)
	})
}

// GetSession finds a session by token hash.
func (s *Store) GetSession(ctx context.Context, tokenHash string) (*store.Session, error) {
	var sess store.Session
	err := s.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bSessions), []byte(tokenHash), &sess) })
	if err != nil {
		return nil, err
	}
	return &sess, nil
}

// DeleteSession revokes one token.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		var sess store.Session
		if err := getJSON(tx.Bucket(bSessions), []byte(tokenHash), &sess); err != nil {
			return err
		}
		if err := tx.Bucket(bSessByUser).Delete(join(sess.UserID, tokenHash)); err != nil {
			return err
		}
		return tx.Bucket(bSessions).Delete([]byte(tokenHash))
	})
}

// DeleteUserSessions revokes every token of a user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		idx, sessions := tx.Bucket(bSessByUser), tx.Bucket(bSessions)
		p := prefix(userID)
		c := idx.Cursor()
		for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Seek(p) {
			k = append([]byte(nil), k...) // deletes below may move the page k points into
			if err := sessions.Delete(k[len(p):]); err != nil {
				return err
			}
			if err := idx.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
