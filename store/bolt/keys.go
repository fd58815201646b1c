package bolt

import (
	"context"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// PutDataKey stores a wrapped data key.
func (s *Store) PutDataKey(ctx context.Context, k *store.DataKey) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bKeys).Get([]byte(k.ID)) != nil {
			return store.ErrConflict
		}
		if err := tx.Bucket(bKeysByOwner).Put(join(k.Owner, k.ID), nil); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bKeys), []byte(k.ID), k)
	})
}

// GetDataKey loads a wrapped data key.
func (s *Store) GetDataKey(ctx context.Context, id string) (*store.DataKey, error) {
	var k store.DataKey
	if err := s.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bKeys), []byte(id), &k) }); err != nil {
		return nil, err
	}
	return &k, nil
}

// ListDataKeys lists an owner's keys, oldest first.
func (s *Store) ListDataKeys(ctx context.Context, owner string) ([]*store.DataKey, error) {
	var out []*store.DataKey
	err := s.view(ctx, func(tx *bolt.Tx) error {
		keys := tx.Bucket(bKeys)
		p := prefix(owner)
		c := tx.Bucket(bKeysByOwner).Cursor()
		for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
			var dk store.DataKey
			if err := getJSON(keys, k[len(p):], &dk); err != nil {
				return err
			}
			out = append(out, &dk)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// ListDataKeysNotWrappedBy pages through keys wrapped by another version.
func (s *Store) ListDataKeysNotWrappedBy(ctx context.Context, version, after string, limit int) ([]*store.DataKey, error) {
	var out []*store.DataKey
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bKeys).Cursor()
		k, v := c.First()
		if after != "" {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			var dk store.DataKey
			if err := jsonUnmarshal(v, &dk); err != nil {
				return err
			}
			if dk.MasterVersion != version {
				out = append(out, &dk)
			}
		}
		return nil
	})
	return out, err
}

// UpdateDataKey replaces a key's wrapping.
func (s *Store) UpdateDataKey(ctx context.Context, k *store.DataKey) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		var old store.DataKey
		if err := getJSON(tx.Bucket(bKeys), []byte(k.ID), &old); err != nil {
			return err
		}
		old.MasterVersion, old.Wrapped = k.MasterVersion, k.Wrapped
		return putJSON(tx.Bucket(bKeys), []byte(k.ID), &old)
	})
}

// DeleteDataKeys removes every key of an owner.
func (s *Store) DeleteDataKeys(ctx context.Context, owner string) error {
	return s.update(ctx, func(tx *bolt.Tx) error { return deleteOwnerKeys(tx, owner) })
}

func deleteOwnerKeys(tx *bolt.Tx, owner string) error {
	idx, keys := tx.Bucket(bKeysByOwner), tx.Bucket(bKeys)
	p := prefix(owner)
	c := idx.Cursor()
	for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Seek(p) {
		k = append([]byte(nil), k...) // deletes below may move the page k points into
		if err := keys.Delete(k[len(p):]); err != nil {
			return err
		}
		if err := idx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
