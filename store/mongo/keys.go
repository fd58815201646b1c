package mongo

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// PutDataKey stores a wrapped data key.
func (s *Store) PutDataKey(ctx context.Context, k *store.DataKey) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.keys.InsertOne(ctx, k)
	return mapErr(err)
}

// GetDataKey loads a wrapped data key.
func (s *Store) GetDataKey(ctx context.Context, id string) (*store.DataKey, error) {
	var k store.DataKey
	if err := s.findOne(ctx, s.keys, bson.M{"_id": id}, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// ListDataKeys lists an owner's keys, oldest first.
func (s *Store) ListDataKeys(ctx context.Context, owner string) ([]*store.DataKey, error) {
	var out []*store.DataKey
	opts := options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}})
	return out, s.findAll(ctx, s.keys, bson.M{"owner": owner}, &out, opts)
}

// ListDataKeysNotWrappedBy pages through keys of other master versions.
func (s *Store) ListDataKeysNotWrappedBy(ctx context.Context, version, after string, limit int) ([]*store.DataKey, error) {
	var out []*store.DataKey
	filter := bson.M{"master_version": bson.M{"$ne": version}}
	if after != "" {
		filter["_id"] = bson.M{"$gt": after}
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit))
	return out, s.findAll(ctx, s.keys, filter, &out, opts)
}

// UpdateDataKey replaces a key's wrapping.
func (s *Store) UpdateDataKey(ctx context.Context, k *store.DataKey) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.keys.UpdateOne(ctx, bson.M{"_id": k.ID}, bson.M{"$set": bson.M{"master_version": k.MasterVersion, "wrapped": k.Wrapped}})
	if err != nil {
		return mapErr(err)
	}
	if res.MatchedCount == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteDataKeys removes every key of an owner.
func (s *Store) DeleteDataKeys(ctx context.Context, owner string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.keys.DeleteMany(ctx, bson.M{"owner": owner})
	return mapErr(err)
}
