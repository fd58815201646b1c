package bolt

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// bKeyChecks holds one store.KeyCheck per master key version. It is
// created by the first PutKeyCheck rather than by a migration: a store
// without it simply has no checks yet.
var bKeyChecks = []byte("key_checks") // version -> KeyCheck

// PutKeyCheck stores the check of a version; store.ErrConflict if that
// version has one (a check is never replaced).
func (s *Store) PutKeyCheck(ctx context.Context, c *store.KeyCheck) error {
	if err := checkIDs(c.Version); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bKeyChecks)
		if err != nil {
			return err
		}
		if b.Get([]byte(c.Version)) != nil {
			return conflict("key check", []byte(c.Version))
		}
		return putJSON(tx, bKeyChecks, []byte(c.Version), c)
	})
}

// GetKeyCheck loads the check of a version.
func (s *Store) GetKeyCheck(ctx context.Context, version string) (*store.KeyCheck, error) {
	c := new(store.KeyCheck)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bKeyChecks) == nil {
			return notFound("key check", []byte(version))
		}
		return getJSON(tx, bKeyChecks, []byte(version), c)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
