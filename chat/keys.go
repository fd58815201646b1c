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

	// checked holds the (keyring, version) pairs whose key check passed,
	// so a version is checked once per keyring, not per new data key.
	checked sync.Map // checkedVersion -> struct{}
}

type checkedVersion struct {
	ring    *vault.Keyring
	version string
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
	ring := s.Keyring()
	version, wrapped, err := ring.Wrap(dek, owner)
	if err != nil {
		return "", nil, Internal(err)
	}
	// A version added at run time (rotation) gets its check on first use,
	// and a key that contradicts the stored check wraps nothing.
	if err := s.checkMasterKey(ctx, ring, version); err != nil {
		return "", nil, AsError(err)
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
	// Re-wrapping every key under a key that another node already stored
	// a different check for would make them unreadable cluster-wide.
	if err := s.checkMasterKey(ctx, ring, active); err != nil {
		return rep, err
	}
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

// ErrWrongMasterKey reports a configured master key that is not the key
// the store's data was written with under the same version label.
var ErrWrongMasterKey = errors.New("wrong master key")

// CheckMasterKeys makes sure that each version of the keyring is the key
// this store knows under that label, so that a node with a wrong key
// refuses to start instead of answering every read with an error. A
// version's check value is written the first time it is seen (a new
// installation, or a version added by rotation); retired versions are not
// looked at. New calls it.
func (s *Service) CheckMasterKeys(ctx context.Context) error {
	ring := s.Keyring()
	for _, v := range ring.Versions() {
		if err := s.checkMasterKey(ctx, ring, v); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) checkMasterKey(ctx context.Context, ring *vault.Keyring, version string) error {
	done := checkedVersion{ring, version}
	if _, ok := s.keys.checked.Load(done); ok {
		return nil
	}
	// Two rounds: losing the race to write the first check means
	// checking against the winner's.
	for range 2 {
		c, err := s.store.GetKeyCheck(ctx, version)
		switch {
		case err == nil:
			if err := ring.OpenCheck(version, c.Sealed); err != nil {
				return fmt.Errorf("%w: master key %s is not the key this store was written with (its key check, stored %s, does not open); "+
					"check the configured master keys (CRYPTTALK_MASTER_KEYS or the data dir's key file)", ErrWrongMasterKey, version, c.CreatedAt.Format("2006-01-02"))
			}
			s.keys.checked.Store(done, struct{}{})
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("read the key check of master key %s: %w", version, err)
		}
		if err := s.proveOnDataKeys(ctx, ring, version); err != nil {
			return err
		}
		sealed, err := ring.SealCheck(version)
		if err != nil {
			return err
		}
		err = s.store.PutKeyCheck(ctx, &store.KeyCheck{Version: version, Sealed: sealed, CreatedAt: s.now().UTC()})
		if err == nil {
			s.log.InfoContext(ctx, "stored the key check of a master key version", "version", version)
			s.keys.checked.Store(done, struct{}{})
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("store the key check of master key %s: %w", version, err)
		}
	}
	return fmt.Errorf("the key check of master key %s keeps changing", version)
}

// proveOnDataKeys is the check of a store written before key checks
// existed: if version wrapped data keys, the configured key must open at
// least one of a few of them (an AEAD opens nothing under a wrong key), so
// a wrong key is refused rather than recorded as the right one.
func (s *Service) proveOnDataKeys(ctx context.Context, ring *vault.Keyring, version string) error {
	keys, err := s.store.ListDataKeysWrappedBy(ctx, version, "", 3)
	if err != nil {
		return fmt.Errorf("read data keys of master key %s: %w", version, err)
	}
	for _, k := range keys {
		if _, err := ring.Unwrap(version, k.Wrapped, k.Owner); err == nil {
			return nil
		}
	}
	if len(keys) > 0 {
		return fmt.Errorf("%w: master key %s opens none of the data keys stored under %s; "+
			"check the configured master keys (CRYPTTALK_MASTER_KEYS or the data dir's key file)", ErrWrongMasterKey, version, version)
	}
	return nil
}
