package mongo

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// PutKeyCheck stores the check of a version. The version is the _id, so
// of two nodes racing with different keys exactly one insert wins and the
// other gets store.ErrConflict.
func (s *Store) PutKeyCheck(ctx context.Context, c *store.KeyCheck) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.keyChecks.InsertOne(ctx, c)
	return mapErr(err)
}

// GetKeyCheck loads the check of a version.
func (s *Store) GetKeyCheck(ctx context.Context, version string) (*store.KeyCheck, error) {
	var c store.KeyCheck
	if err := s.findOne(ctx, s.keyChecks, bson.M{"_id": version}, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// ListDataKeysWrappedBy pages through the keys of one master version. There
// is no index on master_version: only the start-up key check asks, for a
// few keys, and the scan stops at the first matches.
func (s *Store) ListDataKeysWrappedBy(ctx context.Context, version, after string, limit int) ([]*store.DataKey, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []*store.DataKey
	filter := bson.M{"master_version": version}
	if after != "" {
		filter["_id"] = bson.M{"$gt": after}
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit))
	return out, s.findAll(ctx, s.keys, filter, &out, opts)
}
