package chat

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

// keyCache holds unwrapped data keys in memory so that a message costs one
// AEAD operation, not an unwrap and a store read. It is bounded; when full
// it is emptied (a miss only costs a store read).
type keyCache struct {
	max     int
	mu      sync.RWMutex
	byID    map[string]cachedKey
	current map[string]string // owner -> key id used for new data
}

type cachedKey struct {
	owner string
	dek   []byte
}

func newKeyCache(max int) *keyCache {
	return &keyCache{max: max, byID: make(map[string]cachedKey), current: make(map[string]string)}
}

func (c *keyCache) get(id string) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.byID[id]
	return k.dek, ok
}

func (c *keyCache) currentFor(owner string) (string, []byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.current[owner]
	if !ok {
		return "", nil, false
	}
	k, ok := c.byID[id]
	return id, k.dek, ok
}

func (c *keyCache) put(id, owner string, dek []byte, isCurrent bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byID) >= c.max {
		c.byID = make(map[string]cachedKey)
		c.current = make(map[string]string)
	}
	c.byID[id] = cachedKey{owner: owner, dek: dek}
	if isCurrent {
		c.current[owner] = id
	}
}

func (c *keyCache) forgetOwner(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.current, owner)
	for id, k := range c.byID {
		if k.owner == owner {
			delete(c.byID, id)
		}
	}
}

// currentKey returns the data key new data of owner is sealed with,
// creating the owner's first key when there is none.
func (s *Service) currentKey(ctx context.Context, owner string) (string, []byte, error) {
	if id, dek, ok := s.keys.currentFor(owner); ok {
		return id, dek, nil
	}
	keys, err := s.store.ListDataKeys(ctx, owner)
	if err != nil {
		return "", nil, storeError(err)
	}
	if len(keys) > 0 {
		k := keys[len(keys)-1]
		dek, err := s.unwrap(k)
		if err != nil {
			return "", nil, err
		}
		s.keys.put(k.ID, owner, dek, true)
		return k.ID, dek, nil
	}
	return s.newDataKey(ctx, owner)
}

// newDataKey creates, wraps and stores a fresh data key for owner. Two
// racing first writers may each create one; both stay valid because every
// sealed record names its key id.
func (s *Service) newDataKey(ctx context.Context, owner string) (string, []byte, error) {
	dek := vault.NewDataKey()
	version, wrapped, err := s.Keyring().Wrap(dek, owner)
	if err != nil {
		return "", nil, Internal(err)
	}
	k := &store.DataKey{ID: store.NewID(), Owner: owner, MasterVersion: version, Wrapped: wrapped, CreatedAt: s.now().UTC()}
	if err := s.store.PutDataKey(ctx, k); err != nil {
		return "", nil, storeError(err)
	}
	s.keys.put(k.ID, owner, dek, true)
	return k.ID, dek, nil
}

// dataKey returns the unwrapped data key id of owner.
func (s *Service) dataKey(ctx context.Context, id, owner string) ([]byte, error) {
	if dek, ok := s.keys.get(id); ok {
		return dek, nil
	}
	k, err := s.store.GetDataKey(ctx, id)
	if err != nil {
		return nil, storeError(err)
	}
	if k.Owner != owner {
		return nil, Internal(fmt.Errorf("data key %s belongs to another owner", id))
	}
	dek, err := s.unwrap(k)
	if err != nil {
		return nil, err
	}
	s.keys.put(k.ID, owner, dek, false)
	return dek, nil
}

func (s *Service) unwrap(k *store.DataKey) ([]byte, error) {
	dek, err := s.Keyring().Unwrap(k.MasterVersion, k.Wrapped, k.Owner)
	if err != nil {
		return nil, Internal(fmt.Errorf("unwrap data key %s (master %s): %w", k.ID, k.MasterVersion, err))
	}
	return dek, nil
}

// forgetKeys drops every cached key of owner on every node (after the
// owner's keys were deleted).
func (s *Service) forgetKeys(ctx context.Context, owner string) {
	_ = s.publishControl(ctx, Control{Kind: ControlForgetKeys, Owner: owner})
}

// RewrapReport tells what a Rewrap did.
type RewrapReport struct {
	Rewrapped int `json:"rewrapped"`
	Failed    int `json:"failed"`
}

// Rewrap re-wraps every data key that is not wrapped by the active master
// key under it. It is resumable: a crash leaves each key wrapped by either
// version, and the next run continues with the keys still left.
func (s *Service) Rewrap(ctx context.Context) (RewrapReport, error) {
	ring := s.Keyring()
	active := ring.Active()
	var rep RewrapReport
	after := ""
	for {
		keys, err := s.store.ListDataKeysNotWrappedBy(ctx, active, after, 256)
		if err != nil {
			return rep, storeError(err)
		}
		if len(keys) == 0 {
			return rep, nil
		}
		for _, k := range keys {
			after = k.ID
			if err := s.rewrapOne(ctx, ring, k); err != nil {
				if errors.Is(err, context.Canceled) {
					return rep, err
				}
				s.log.ErrorContext(ctx, "rewrap failed", "key_id", k.ID, "err", err)
				rep.Failed++
				continue
			}
			rep.Rewrapped++
		}
	}
}

func (s *Service) rewrapOne(ctx context.Context, ring *vault.Keyring, k *store.DataKey) error {
	dek, err := ring.Unwrap(k.MasterVersion, k.Wrapped, k.Owner)
	if err != nil {
		return err
	}
	version, wrapped, err := ring.Wrap(dek, k.Owner)
	if err != nil {
		return err
	}
	k.MasterVersion, k.Wrapped = version, wrapped
	return s.store.UpdateDataKey(ctx, k)
}

// SetKeyring swaps the master keyring (rotation). Callers add a new active
// version, Rewrap, and only then drop the old version.
func (s *Service) SetKeyring(ring *vault.Keyring) { s.ring.Store(ring) }
