package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// userDevice walks the user's session index for the sessions of deviceID:
// a user has few sessions, and walking them also finds records written
// before sessions had a device id.
func userDevice(tx *bolt.Tx, userID, deviceID string) ([]*store.Session, error) {
	var out []*store.Session
	p := prefix(userID)
	c := tx.Bucket(bSessByUser).Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		sess := new(store.Session)
		if err := getJSON(tx, bSessions, k[len(p):], sess); err != nil {
			return nil, err
		}
		if sess.IsDevice(deviceID) {
			out = append(out, sess)
		}
	}
	return out, nil
}

// deviceSessions is userDevice that answers ErrNotFound for no session.
func deviceSessions(tx *bolt.Tx, userID, deviceID string) ([]*store.Session, error) {
	ss, err := userDevice(tx, userID, deviceID)
	if err == nil && len(ss) == 0 {
		err = noDevice(userID, deviceID)
	}
	return ss, err
}

func newest(ss []*store.Session) *store.Session {
	var n *store.Session
	for _, s := range ss {
		if n == nil || s.CreatedAt.After(n.CreatedAt) {
			n = s
		}
	}
	return n
}

func noDevice(userID, deviceID string) error {
	return fmt.Errorf("bolt: device %q of %q: %w", deviceID, userID, store.ErrNotFound)
}

// GetDevice finds the session of a user's device.
func (s *Store) GetDevice(ctx context.Context, userID, deviceID string) (*store.Session, error) {
	if err := checkIDs(userID, deviceID); err != nil {
		return nil, noDevice(userID, deviceID)
	}
	var out *store.Session
	err := s.view(ctx, func(tx *bolt.Tx) error {
		ss, err := userDevice(tx, userID, deviceID)
		out = newest(ss)
		return err
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, noDevice(userID, deviceID)
	}
	return out, nil
}

// RenameDevice sets the display name of every session of the device.
func (s *Store) RenameDevice(ctx context.Context, userID, deviceID, name string) error {
	if err := checkIDs(userID, deviceID); err != nil {
		return noDevice(userID, deviceID)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		ss, err := deviceSessions(tx, userID, deviceID)
		if err != nil {
			return err
		}
		for _, sess := range ss {
			sess.DisplayName = name
			if err := putJSON(tx, bSessions, []byte(sess.TokenHash), sess); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteDevice revokes the device's tokens.
func (s *Store) DeleteDevice(ctx context.Context, userID, deviceID string) ([]string, error) {
	if err := checkIDs(userID, deviceID); err != nil {
		return nil, noDevice(userID, deviceID)
	}
	var hashes []string
	err := s.update(ctx, func(tx *bolt.Tx) error {
		hashes = nil // fn may be replayed
		ss, err := deviceSessions(tx, userID, deviceID)
		if err != nil {
			return err
		}
		for _, sess := range ss {
			if err := tx.Bucket(bSessByUser).Delete(join(userID, sess.TokenHash)); err != nil {
				return err
			}
			if err := tx.Bucket(bSessions).Delete([]byte(sess.TokenHash)); err != nil {
				return err
			}
			hashes = append(hashes, sess.TokenHash)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return hashes, nil
}

// TouchSession records a session's activity.
func (s *Store) TouchSession(ctx context.Context, tokenHash string, at time.Time, ip, userAgent string) error {
	if err := checkIDs(tokenHash); err != nil {
		return notFound("sessions", []byte(tokenHash))
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		var sess store.Session
		if err := getJSON(tx, bSessions, []byte(tokenHash), &sess); err != nil {
			return err
		}
		sess.LastSeenAt = at
		if ip != "" {
			sess.LastIP = ip
		}
		if userAgent != "" {
			sess.UserAgent = userAgent
		}
		return putJSON(tx, bSessions, []byte(tokenHash), &sess)
	})
}
