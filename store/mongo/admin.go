package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// ListUserSessions uses the sessions_user index.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]*store.Session, error) {
	var out []*store.Session
	if err := s.findAll(ctx, s.sessions, bson.M{"user_id": userID}, &out); err != nil {
		return nil, err
	}
	for _, sess := range out {
		store.FillDevice(sess)
	}
	return out, nil
}

// Count asks the server for plain counts and projections only, which
// every MongoDB-compatible server answers alike.
func (s *Store) Count(ctx context.Context, dayAgo, monthAgo time.Time) (*store.Counts, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	n := &store.Counts{DataKeys: map[string]int64{}}
	var err error
	count := func(dst *int64, c interface {
		CountDocuments(context.Context, any, ...*options.CountOptions) (int64, error)
	}, filter bson.M) {
		if err == nil {
			*dst, err = c.CountDocuments(ctx, filter)
		}
	}
	count(&n.Users, s.users, bson.M{})
	count(&n.Deactivated, s.users, bson.M{"deactivated": true})
	count(&n.Admins, s.users, bson.M{"admin": true})
	count(&n.Conversations, s.convs, bson.M{})
	count(&n.Messages, s.msgs, bson.M{})
	count(&n.Files, s.files, bson.M{})
	count(&n.FileKeys, s.files, bson.M{"key_id": bson.M{"$nin": bson.A{"", nil}}})
	if err != nil {
		return nil, mapErr(err)
	}
	// Distinct would do, but some compatible servers refuse it with the
	// driver's maxTimeMS; the sessions of a month are few.
	var sess []struct {
		UserID    string    `bson:"user_id"`
		CreatedAt time.Time `bson:"created_at"`
	}
	if err := s.findAll(ctx, s.sessions, bson.M{"created_at": bson.M{"$gte": monthAgo}}, &sess,
		options.Find().SetProjection(bson.M{"user_id": 1, "created_at": 1})); err != nil {
		return nil, err
	}
	day, month := map[string]bool{}, map[string]bool{}
	for _, x := range sess {
		month[x.UserID] = true
		if !x.CreatedAt.Before(dayAgo) {
			day[x.UserID] = true
		}
	}
	n.ActiveDay, n.ActiveMonth = int64(len(day)), int64(len(month))
	var sizes []struct {
		Size int64 `bson:"size"`
	}
	if err := s.findAll(ctx, s.files, bson.M{}, &sizes, options.Find().SetProjection(bson.M{"size": 1})); err != nil {
		return nil, err
	}
	for _, f := range sizes {
		n.FileBytes += f.Size
	}
	var keys []struct {
		MasterVersion string `bson:"master_version"`
	}
	if err := s.findAll(ctx, s.keys, bson.M{}, &keys, options.Find().SetProjection(bson.M{"master_version": 1})); err != nil {
		return nil, err
	}
	for _, k := range keys {
		n.DataKeys[k.MasterVersion]++
	}
	return n, nil
}

// DeleteUser removes the record; the unique indexes free its names.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.users.DeleteOne(ctx, bson.M{"_id": id})
	if err != nil {
		return mapErr(err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("mongo: user %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// ResealMessage swaps body and key id when the key id is still fromKey.
func (s *Store) ResealMessage(ctx context.Context, id, fromKey, toKey string, body []byte) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.msgs.UpdateOne(ctx, bson.M{"_id": id, "key_id": fromKey}, bson.M{"$set": bson.M{"key_id": toKey, "body": body}})
	if err != nil {
		return mapErr(err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	n, err := s.msgs.CountDocuments(ctx, bson.M{"_id": id})
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return fmt.Errorf("mongo: message %q: %w", id, store.ErrNotFound)
	}
	return fmt.Errorf("mongo: message %q has another key: %w", id, store.ErrConflict)
}
