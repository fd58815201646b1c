package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// The end-to-end key directory's buckets are created by their first
// write, like bAccountData; a read of a missing bucket finds nothing.
var (
	bDevKeys  = []byte("e2ee_device_keys") // user \0 device -> DeviceKeys
	bOTKs     = []byte("e2ee_otks")        // user \0 device \0 key id -> OneTimeKey
	bFallback = []byte("e2ee_fallback")    // user \0 device \0 algorithm -> OneTimeKey
	bXSign    = []byte("e2ee_cross")       // user \0 usage -> key JSON
	bSigs     = []byte("e2ee_sigs")        // target \0 target key \0 signer \0 signer key -> KeySignature
	bDevList  = []byte("e2ee_devlist")     // user -> unix ns of the last change (big-endian)
	bToDev    = []byte("e2ee_todevice")    // user \0 device \0 seq -> ToDeviceMessage
	bToDevIDs = []byte("e2ee_todevice_id") // message id -> bToDev key
)

var _ store.E2EEKeys = (*Store)(nil)

// bucketFor creates name when missing (writes only).
func bucketFor(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	return tx.CreateBucketIfNotExists(name)
}

// eachPrefix calls fn with every entry of bucket name under p; a missing
// bucket has none. fn must not modify the bucket.
func eachPrefix(tx *bolt.Tx, name, p []byte, fn func(k, v []byte) error) error {
	b := tx.Bucket(name)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// dropPrefix is deletePrefix for buckets that may not exist yet.
func dropPrefix(tx *bolt.Tx, name, p []byte, each func(rest, v []byte) error) error {
	if tx.Bucket(name) == nil {
		return nil
	}
	return deletePrefix(tx, name, p, each)
}

// PutDeviceKeys stores a device's keys; its identity never changes.
func (s *Store) PutDeviceKeys(ctx context.Context, k *store.DeviceKeys) error {
	if err := checkIDs(k.UserID, k.DeviceID); err != nil {
		return err
	}
	key := join(k.UserID, k.DeviceID)
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketFor(tx, bDevKeys)
		if err != nil {
			return err
		}
		if raw := b.Get(key); raw != nil {
			var old store.DeviceKeys
			if err := json.Unmarshal(raw, &old); err != nil {
				return fmt.Errorf("bolt: decode device keys %q: %w", key, err)
			}
			if old.Identity != k.Identity {
				return conflict("device identity keys", key)
			}
		}
		return putJSON(tx, bDevKeys, key, k)
	})
}

// ListDeviceKeys returns a user's device keys by device id.
func (s *Store) ListDeviceKeys(ctx context.Context, userID string) ([]*store.DeviceKeys, error) {
	if err := checkIDs(userID); err != nil {
		return nil, err
	}
	var out []*store.DeviceKeys
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		return eachPrefix(tx, bDevKeys, prefix(userID), func(k, v []byte) error {
			var d store.DeviceKeys
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("bolt: decode device keys %q: %w", k, err)
			}
			out = append(out, &d)
			return nil
		})
	})
	return out, err
}

// AddOneTimeKeys stores new one-time keys in one transaction.
func (s *Store) AddOneTimeKeys(ctx context.Context, userID, deviceID string, keys []*store.OneTimeKey) error {
	if err := checkIDs(userID, deviceID); err != nil {
		return err
	}
	for _, k := range keys {
		if err := checkIDs(k.KeyID); err != nil {
			return err
		}
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketFor(tx, bOTKs)
		if err != nil {
			return err
		}
		for _, k := range keys {
			key := join(userID, deviceID, k.KeyID)
			if raw := b.Get(key); raw != nil {
				var old store.OneTimeKey
				if err := json.Unmarshal(raw, &old); err != nil {
					return fmt.Errorf("bolt: decode one-time key %q: %w", key, err)
				}
				if !bytes.Equal(old.Key, k.Key) {
					return conflict("one-time key", key)
				}
				continue
			}
			if err := putJSON(tx, bOTKs, key, &store.OneTimeKey{KeyID: k.KeyID, Key: k.Key}); err != nil {
				return err
			}
		}
		return nil
	})
}

// ClaimOneTimeKey pops a one-time key, else hands out the fallback key;
// the transaction serialises claimers.
func (s *Store) ClaimOneTimeKey(ctx context.Context, userID, deviceID, algorithm string) (*store.OneTimeKey, error) {
	if err := checkIDs(userID, deviceID, algorithm); err != nil {
		return nil, err
	}
	var got *store.OneTimeKey
	err := s.update(ctx, func(tx *bolt.Tx) error {
		got = nil
		p := append(prefix(userID, deviceID), algorithm+":"...)
		if b := tx.Bucket(bOTKs); b != nil {
			if k, v := b.Cursor().Seek(p); k != nil && bytes.HasPrefix(k, p) {
				var o store.OneTimeKey
				if err := json.Unmarshal(v, &o); err != nil {
					return fmt.Errorf("bolt: decode one-time key %q: %w", k, err)
				}
				got = &o
				return b.Delete(bytes.Clone(k))
			}
		}
		fkey := join(userID, deviceID, algorithm)
		b := tx.Bucket(bFallback)
		if b == nil || b.Get(fkey) == nil {
			return notFound("one-time key", p)
		}
		var f store.OneTimeKey
		if err := getJSON(tx, bFallback, fkey, &f); err != nil {
			return err
		}
		if !f.Used {
			f.Used = true
			if err := putJSON(tx, bFallback, fkey, &f); err != nil {
				return err
			}
		}
		f.Fallback = true
		got = &f
		return nil
	})
	if err != nil {
		return nil, err
	}
	return got, nil
}

// CountOneTimeKeys counts a device's unclaimed one-time keys.
func (s *Store) CountOneTimeKeys(ctx context.Context, userID, deviceID string) (map[string]int, error) {
	if err := checkIDs(userID, deviceID); err != nil {
		return nil, err
	}
	out := map[string]int{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		clear(out)
		p := prefix(userID, deviceID)
		return eachPrefix(tx, bOTKs, p, func(k, _ []byte) error {
			out[store.KeyAlgorithm(string(k[len(p):]))]++
			return nil
		})
	})
	return out, err
}

// PutFallbackKey replaces a device's fallback key of one algorithm.
func (s *Store) PutFallbackKey(ctx context.Context, userID, deviceID string, k *store.OneTimeKey) error {
	if err := checkIDs(userID, deviceID, k.KeyID); err != nil {
		return err
	}
	key := join(userID, deviceID, k.Algorithm())
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketFor(tx, bFallback)
		if err != nil {
			return err
		}
		if raw := b.Get(key); raw != nil {
			var old store.OneTimeKey
			if json.Unmarshal(raw, &old) == nil && old.KeyID == k.KeyID && bytes.Equal(old.Key, k.Key) {
				return nil
			}
		}
		return putJSON(tx, bFallback, key, &store.OneTimeKey{KeyID: k.KeyID, Key: k.Key})
	})
}

// UnusedFallbackKeyTypes lists the algorithms of unused fallback keys.
func (s *Store) UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error) {
	if err := checkIDs(userID, deviceID); err != nil {
		return nil, err
	}
	var out []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		p := prefix(userID, deviceID)
		return eachPrefix(tx, bFallback, p, func(k, v []byte) error {
			var f store.OneTimeKey
			if err := json.Unmarshal(v, &f); err != nil {
				return fmt.Errorf("bolt: decode fallback key %q: %w", k, err)
			}
			if !f.Used {
				out = append(out, string(k[len(p):]))
			}
			return nil
		})
	})
	slices.Sort(out)
	return out, err
}

// PutCrossSigningKeys replaces the given usages' keys.
func (s *Store) PutCrossSigningKeys(ctx context.Context, userID string, keys map[string][]byte) error {
	if err := checkIDs(userID); err != nil {
		return err
	}
	for usage := range keys {
		if err := checkIDs(usage); err != nil {
			return err
		}
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketFor(tx, bXSign)
		if err != nil {
			return err
		}
		for usage, k := range keys {
			if err := b.Put(join(userID, usage), k); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetCrossSigningKeys returns a user's cross-signing keys by usage.
func (s *Store) GetCrossSigningKeys(ctx context.Context, userID string) (map[string][]byte, error) {
	if err := checkIDs(userID); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		clear(out)
		p := prefix(userID)
		return eachPrefix(tx, bXSign, p, func(k, v []byte) error {
			out[string(k[len(p):])] = bytes.Clone(v)
			return nil
		})
	})
	return out, err
}

// PutKeySignatures stores signatures, replacing same-key ones.
func (s *Store) PutKeySignatures(ctx context.Context, sigs []*store.KeySignature) error {
	for _, g := range sigs {
		if err := checkIDs(g.TargetUser, g.TargetKey, g.Signer, g.SignerKey); err != nil {
			return err
		}
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		if _, err := bucketFor(tx, bSigs); err != nil {
			return err
		}
		for _, g := range sigs {
			if err := putJSON(tx, bSigs, join(g.TargetUser, g.TargetKey, g.Signer, g.SignerKey), g); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListKeySignatures returns the signatures on targetUser's keys.
func (s *Store) ListKeySignatures(ctx context.Context, targetUser string) ([]*store.KeySignature, error) {
	if err := checkIDs(targetUser); err != nil {
		return nil, err
	}
	var out []*store.KeySignature
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		return eachPrefix(tx, bSigs, prefix(targetUser), func(k, v []byte) error {
			var g store.KeySignature
			if err := json.Unmarshal(v, &g); err != nil {
				return fmt.Errorf("bolt: decode signature %q: %w", k, err)
			}
			out = append(out, &g)
			return nil
		})
	})
	return out, err
}

// MarkDeviceListChanged raises a user's device list change time.
func (s *Store) MarkDeviceListChanged(ctx context.Context, userID string, at time.Time) error {
	if err := checkIDs(userID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketFor(tx, bDevList)
		if err != nil {
			return err
		}
		if old := b.Get([]byte(userID)); len(old) == 8 && int64(binary.BigEndian.Uint64(old)) >= at.UnixNano() {
			return nil
		}
		return b.Put([]byte(userID), binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())))
	})
}

// DeviceListChanges returns the change times of users.
func (s *Store) DeviceListChanges(ctx context.Context, users []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		clear(out)
		b := tx.Bucket(bDevList)
		if b == nil {
			return nil
		}
		for _, u := range users {
			if v := b.Get([]byte(u)); len(v) == 8 {
				out[u] = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
			}
		}
		return nil
	})
	return out, err
}

// PutToDevice appends to a device's inbox unless the id is there.
func (s *Store) PutToDevice(ctx context.Context, m *store.ToDeviceMessage, max int) error {
	if err := checkIDs(m.ID, m.UserID, m.DeviceID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketFor(tx, bToDev)
		if err != nil {
			return err
		}
		ids, err := bucketFor(tx, bToDevIDs)
		if err != nil {
			return err
		}
		if ids.Get([]byte(m.ID)) != nil {
			return nil
		}
		p := prefix(m.UserID, m.DeviceID)
		n := 0
		if err := eachPrefix(tx, bToDev, p, func(_, _ []byte) error { n++; return nil }); err != nil {
			return err
		}
		if n >= max {
			return fmt.Errorf("bolt: inbox of %q %q: %w", m.UserID, m.DeviceID, store.ErrInboxFull)
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		key := seqKey(p, int64(seq))
		cp := *m
		cp.Batch = 0
		if err := putJSON(tx, bToDev, key, &cp); err != nil {
			return err
		}
		return ids.Put([]byte(m.ID), key)
	})
}

// TakeToDevice acknowledges, then hands out and stamps one batch.
func (s *Store) TakeToDevice(ctx context.Context, userID, deviceID string, acked, batch int64, limit int) ([]*store.ToDeviceMessage, error) {
	if err := checkIDs(userID, deviceID); err != nil {
		return nil, err
	}
	limit = limitOr(limit, defaultPageLimit)
	// Most syncs find an empty inbox: a read answers them without a
	// commit (an fsync) per long-poll round.
	n, err := s.CountToDevice(ctx, userID, deviceID)
	if err != nil || n == 0 {
		return nil, err
	}
	var out []*store.ToDeviceMessage
	err = s.update(ctx, func(tx *bolt.Tx) error {
		out = nil
		if tx.Bucket(bToDev) == nil {
			return nil
		}
		type entry struct {
			key []byte
			m   store.ToDeviceMessage
		}
		var all []entry
		if err := eachPrefix(tx, bToDev, prefix(userID, deviceID), func(k, v []byte) error {
			e := entry{key: bytes.Clone(k)}
			if err := json.Unmarshal(v, &e.m); err != nil {
				return fmt.Errorf("bolt: decode to-device %q: %w", k, err)
			}
			all = append(all, e)
			return nil
		}); err != nil {
			return err
		}
		for _, e := range all {
			if acked > 0 && e.m.Batch > 0 && e.m.Batch <= acked {
				if err := tx.Bucket(bToDev).Delete(e.key); err != nil {
					return err
				}
				if err := tx.Bucket(bToDevIDs).Delete([]byte(e.m.ID)); err != nil {
					return err
				}
				continue
			}
			if len(out) >= limit {
				continue
			}
			e.m.Batch = batch
			if err := putJSON(tx, bToDev, e.key, &e.m); err != nil {
				return err
			}
			m := e.m
			out = append(out, &m)
		}
		return nil
	})
	return out, err
}

// CountToDevice counts a device's inbox.
func (s *Store) CountToDevice(ctx context.Context, userID, deviceID string) (int, error) {
	if err := checkIDs(userID, deviceID); err != nil {
		return 0, err
	}
	n := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n = 0
		return eachPrefix(tx, bToDev, prefix(userID, deviceID), func(_, _ []byte) error { n++; return nil })
	})
	return n, err
}

// DeleteDeviceE2EE removes a device's keys, signatures and inbox.
func (s *Store) DeleteDeviceE2EE(ctx context.Context, userID, deviceID string) error {
	if err := checkIDs(userID, deviceID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		if b := tx.Bucket(bDevKeys); b != nil {
			if err := b.Delete(join(userID, deviceID)); err != nil {
				return err
			}
		}
		p := prefix(userID, deviceID)
		for _, name := range [][]byte{bOTKs, bFallback, bSigs} {
			if err := dropPrefix(tx, name, p, nil); err != nil {
				return err
			}
		}
		return dropPrefix(tx, bToDev, p, func(_, v []byte) error {
			var m store.ToDeviceMessage
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			return tx.Bucket(bToDevIDs).Delete([]byte(m.ID))
		})
	})
}

// SetConversationE2EE sets the conversation's one-way E2EE flag.
func (s *Store) SetConversationE2EE(ctx context.Context, convID string) error {
	if err := checkIDs(convID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		var c store.Conversation
		if err := getJSON(tx, bConvs, []byte(convID), &c); err != nil {
			return err
		}
		if c.E2EE {
			return nil
		}
		c.E2EE = true
		return putJSON(tx, bConvs, []byte(convID), &c)
	})
}
