package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// PutDataKey stores a wrapped data key; store.ErrConflict if its id exists.
func (s *Store) PutDataKey(ctx context.Context, k *store.DataKey) error {
	if err := checkIDs(k.ID, k.Owner); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bKeys).Get([]byte(k.ID)) != nil {
			return conflict("data key", []byte(k.ID))
		}
		if err := tx.Bucket(bKeysByOwner).Put(join(k.Owner, k.ID), []byte{}); err != nil {
			return err
		}
		return putJSON(tx, bKeys, []byte(k.ID), k)
	})
}

// GetDataKey loads a wrapped data key.
func (s *Store) GetDataKey(ctx context.Context, id string) (*store.DataKey, error) {
	k := new(store.DataKey)
	if err := s.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx, bKeys, []byte(id), k) }); err != nil {
		return nil, err
	}
	return k, nil
}

// ListDataKeys returns an owner's keys, newest last (by CreatedAt, then id).
func (s *Store) ListDataKeys(ctx context.Context, owner string) ([]*store.DataKey, error) {
	var out []*store.DataKey
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return scanPrefix(tx, bKeysByOwner, prefix(owner), func(id, _ []byte) (bool, error) {
			k := new(store.DataKey)
			if err := getJSON(tx, bKeys, id, k); err != nil {
				return false, err
			}
			out = append(out, k)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	// The index is in id order; CreatedAt gives "newest last", and the
	// stable sort keeps id order among keys made at the same instant.
	slices.SortStableFunc(out, func(a, b *store.DataKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// ListDataKeysNotWrappedBy pages, by ascending id after the exclusive
// cursor, through the keys whose MasterVersion differs from version. It
// walks the whole key bucket, which is fine for the rare re-wrap job.
func (s *Store) ListDataKeysNotWrappedBy(ctx context.Context, version, after string, limit int) ([]*store.DataKey, error) {
	return s.listKeysWhere(ctx, after, limit, func(k *store.DataKey) bool { return k.MasterVersion != version })
}

// ListDataKeysWrappedBy pages, by ascending id after the exclusive cursor,
// through the keys wrapped by version. It walks the key bucket too: only
// the start-up key check asks, and only for a few keys.
func (s *Store) ListDataKeysWrappedBy(ctx context.Context, version, after string, limit int) ([]*store.DataKey, error) {
	return s.listKeysWhere(ctx, after, limit, func(k *store.DataKey) bool { return k.MasterVersion == version })
}

func (s *Store) listKeysWhere(ctx context.Context, after string, limit int, keep func(*store.DataKey) bool) ([]*store.DataKey, error) {
	limit = limitOr(limit, defaultPageLimit)
	var out []*store.DataKey
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bKeys).Cursor()
		for k, v := seekAfter(c, after); k != nil && len(out) < limit; k, v = c.Next() {
			dk := new(store.DataKey)
			if err := json.Unmarshal(v, dk); err != nil {
				return fmt.Errorf("bolt: decode data key %q: %w", k, err)
			}
			if keep(dk) {
				out = append(out, dk)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateDataKey replaces MasterVersion and Wrapped of an existing key; the
// owner and creation time stay.
func (s *Store) UpdateDataKey(ctx context.Context, k *store.DataKey) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		var old store.DataKey
		if err := getJSON(tx, bKeys, []byte(k.ID), &old); err != nil {
			return err
		}
		old.MasterVersion, old.Wrapped = k.MasterVersion, k.Wrapped
		return putJSON(tx, bKeys, []byte(k.ID), &old)
	})
}

// DeleteDataKeys removes every key of an owner.
func (s *Store) DeleteDataKeys(ctx context.Context, owner string) error {
	return s.update(ctx, func(tx *bolt.Tx) error { return deleteOwnerKeys(tx, owner) })
}

func deleteOwnerKeys(tx *bolt.Tx, owner string) error {
	keys := tx.Bucket(bKeys)
	return deletePrefix(tx, bKeysByOwner, prefix(owner), func(id, _ []byte) error { return keys.Delete(id) })
}
