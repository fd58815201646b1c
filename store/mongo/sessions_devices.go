package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/crypttalk/crypttalk/store"
)

// deviceSessions reads the user's sessions through the sessions_user index
// and keeps the device's: a user has few sessions, and matching here also
// finds records written before sessions had a device id (no device_id
// field to query).
func (s *Store) deviceSessions(ctx context.Context, userID, deviceID string) ([]*store.Session, error) {
	all, err := s.ListUserSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []*store.Session
	for _, sess := range all {
		if sess.IsDevice(deviceID) {
			out = append(out, sess)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("mongo: device %q of %q: %w", deviceID, userID, store.ErrNotFound)
	}
	return out, nil
}

func hashesOf(ss []*store.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.TokenHash
	}
	return out
}

// GetDevice finds the session of a user's device.
func (s *Store) GetDevice(ctx context.Context, userID, deviceID string) (*store.Session, error) {
	ss, err := s.deviceSessions(ctx, userID, deviceID)
	if err != nil {
		return nil, err
	}
	n := ss[0]
	for _, x := range ss[1:] {
		if x.CreatedAt.After(n.CreatedAt) {
			n = x
		}
	}
	return n, nil
}

// RenameDevice sets the display name (and writes the device id into a
// record that predates it).
func (s *Store) RenameDevice(ctx context.Context, userID, deviceID, name string) error {
	ss, err := s.deviceSessions(ctx, userID, deviceID)
	if err != nil {
		return err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	filter := bson.M{"_id": bson.M{"$in": hashesOf(ss)}, "user_id": userID}
	set := bson.M{"device_id": deviceID, "display_name": name}
	if name == "" {
		_, err = s.sessions.UpdateMany(ctx, filter, bson.M{"$set": bson.M{"device_id": deviceID}, "$unset": bson.M{"display_name": ""}})
	} else {
		_, err = s.sessions.UpdateMany(ctx, filter, bson.M{"$set": set})
	}
	return mapErr(err)
}

// DeleteDevice revokes the device's tokens.
func (s *Store) DeleteDevice(ctx context.Context, userID, deviceID string) ([]string, error) {
	ss, err := s.deviceSessions(ctx, userID, deviceID)
	if err != nil {
		return nil, err
	}
	hashes := hashesOf(ss)
	ctx, cancel := s.op(ctx)
	defer cancel()
	if _, err := s.sessions.DeleteMany(ctx, bson.M{"_id": bson.M{"$in": hashes}, "user_id": userID}); err != nil {
		return nil, mapErr(err)
	}
	return hashes, nil
}

// TouchSession records a session's activity.
func (s *Store) TouchSession(ctx context.Context, tokenHash string, at time.Time, ip, userAgent string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	set := bson.M{"last_seen_at": at}
	if ip != "" {
		set["last_ip"] = ip
	}
	if userAgent != "" {
		set["user_agent"] = userAgent
	}
	res, err := s.sessions.UpdateOne(ctx, bson.M{"_id": tokenHash}, bson.M{"$set": set})
	if err != nil {
		return mapErr(err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongo: session: %w", store.ErrNotFound)
	}
	return nil
}
