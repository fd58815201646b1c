package mongo

import (
	"context"
	"fmt"
	"regexp"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// casRetries bounds compare-and-swap loops under contention.
const casRetries = 200

// counter raises an integer field by one and returns the new value,
// unique even under concurrency. MongoDB's $inc would do, but
// MongoDB-compatible servers used in tests (FerretDB) implement
// findAndModify and filtered updates as a read then a write. What every
// server does atomically is refuse a duplicate _id, so each value is
// claimed in the claims collection first; the field then only moves up.
func (s *Store) counter(ctx context.Context, c *mongo.Collection, id, field string) (int64, error) {
	return s.counterWith(ctx, c, id, field, nil, nil)
}

// counterWith is counter that also raises the fields of also ($max) in
// the update that raises field and, if after is not nil, decodes the
// document as that update left it into after (one findAndModify instead
// of an update).
func (s *Store) counterWith(ctx context.Context, c *mongo.Collection, id, field string, also bson.M, after any) (int64, error) {
	var doc bson.M
	if err := s.findOne(ctx, c, bson.M{"_id": id}, &doc, options.FindOne().SetProjection(bson.M{field: 1})); err != nil {
		return 0, err
	}
	// Claim upwards from the stored value: a taken value means a racing
	// caller got it, so try the next without another read.
	n := toInt64(doc[field]) + 1
	for i := 0; i < casRetries; i, n = i+1, n+1 {
		octx, cancel := s.op(ctx)
		_, err := s.claims.InsertOne(octx, bson.M{"_id": claimID(c.Name(), id, n)})
		if err == nil {
			raise := bson.M{field: n}
			for k, v := range also {
				raise[k] = v
			}
			if after == nil {
				_, err = c.UpdateOne(octx, bson.M{"_id": id}, bson.M{"$max": raise})
			} else {
				err = c.FindOneAndUpdate(octx, bson.M{"_id": id}, bson.M{"$max": raise}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(after)
			}
		}
		cancel()
		switch {
		case err == nil:
			return n, nil
		case !mongo.IsDuplicateKeyError(err):
			return 0, mapErr(err)
		}
	}
	return 0, fmt.Errorf("%w: %s.%s under too much contention", store.ErrUnavailable, c.Name(), field)
}

// dropClaims forgets the counter claims of a record being deleted.
func (s *Store) dropClaims(ctx context.Context, coll, id string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	prefix := regexp.QuoteMeta(docKeyPrefix(coll, id))
	_, err := s.claims.DeleteMany(ctx, bson.M{"_id": bson.M{"$regex": "^" + prefix}})
	return mapErr(err)
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case float64:
		return int64(n)
	default:
		return 0
	}
}
