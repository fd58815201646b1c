package bolt

import (
	"context"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

const defaultUserPage = 50

// PutUser creates a user. The id, the localpart and the email (when set)
// must all be free, else store.ErrConflict.
func (s *Store) PutUser(ctx context.Context, u *store.User) error {
	if err := checkIDs(u.ID, u.Localpart); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bUsers).Get([]byte(u.ID)) != nil {
			return conflict("user", []byte(u.ID))
		}
		byLocal, byEmail := tx.Bucket(bUsersByLocal), tx.Bucket(bUsersByEmail)
		if byLocal.Get([]byte(u.Localpart)) != nil {
			return conflict("localpart", []byte(u.Localpart))
		}
		// An account without an email (e.g. made by an operator) takes no
		// slot in the email index.
		if u.Email != "" {
			if byEmail.Get([]byte(u.Email)) != nil {
				return conflict("email", []byte(u.Email))
			}
			if err := byEmail.Put([]byte(u.Email), []byte(u.ID)); err != nil {
				return err
			}
		}
		if err := byLocal.Put([]byte(u.Localpart), []byte(u.ID)); err != nil {
			return err
		}
		return putJSON(tx, bUsers, []byte(u.ID), u)
	})
}

// GetUser finds a user by internal id.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	u := new(store.User)
	if err := s.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx, bUsers, []byte(id), u) }); err != nil {
		return nil, err
	}
	return u, nil
}

// GetUserByLocalpart finds a user by localpart (the lower-cased username).
func (s *Store) GetUserByLocalpart(ctx context.Context, localpart string) (*store.User, error) {
	u := new(store.User)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bUsersByLocal).Get([]byte(localpart))
		if id == nil {
			return notFound("localpart", []byte(localpart))
		}
		return getJSON(tx, bUsers, id, u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// UpdateUser replaces the mutable fields (password hash, avatar, flags) of
// an existing user. The names and email are not mutable, so the indexes
// stay as they are.
func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		var old store.User
		if err := getJSON(tx, bUsers, []byte(u.ID), &old); err != nil {
			return err
		}
		old.PasswordHash, old.AvatarImage, old.AvatarSet = u.PasswordHash, u.AvatarImage, u.AvatarSet
		old.Admin, old.Deactivated = u.Admin, u.Deactivated
		return putJSON(tx, bUsers, []byte(u.ID), &old)
	})
}

// ListUsers pages through users in localpart order. A search (q.Prefix)
// is a case-insensitive substring match on localpart or username; it walks
// the index from the cursor on, since no index answers a substring.
func (s *Store) ListUsers(ctx context.Context, q store.UserQuery) ([]*store.User, error) {
	limit := limitOr(q.Limit, defaultUserPage)
	needle := strings.ToLower(q.Prefix)
	var out []*store.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bUsersByLocal).Cursor()
		for k, id := seekAfter(c, q.After); k != nil && len(out) < limit; k, id = c.Next() {
			u := new(store.User)
			if err := getJSON(tx, bUsers, id, u); err != nil {
				return err
			}
			if needle == "" || strings.Contains(strings.ToLower(string(k)), needle) || strings.Contains(strings.ToLower(u.Username), needle) {
				out = append(out, u)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
