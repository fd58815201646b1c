package mongo

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// AppendAudit stores e; store.ErrConflict if its ID is taken.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.audit.InsertOne(ctx, e)
	return mapErr(err)
}

// ListAudit returns the matching entries newest first; the ID sorts by
// time, so the _id index serves both order and cursor.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]*store.AuditEntry, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	filter := bson.M{}
	if q.Actor != "" {
		filter["actor"] = q.Actor
	}
	if q.Action != "" {
		filter["action"] = q.Action
	}
	at := bson.M{}
	if !q.Since.IsZero() {
		at["$gte"] = q.Since
	}
	if !q.Until.IsZero() {
		at["$lt"] = q.Until
	}
	if len(at) > 0 {
		filter["at"] = at
	}
	if q.Before != "" {
		filter["_id"] = bson.M{"$lt": q.Before}
	}
	var out []*store.AuditEntry
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(q.Limit))
	if err := s.findAll(ctx, s.audit, filter, &out, opts); err != nil {
		return nil, err
	}
	for _, e := range out {
		e.At = e.At.UTC()
	}
	return out, nil
}
