package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// PutJob stores a new job.
func (s *Store) PutJob(ctx context.Context, j *store.Job) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.jobs.InsertOne(ctx, j)
	return mapErr(err)
}

// GetJob loads a job.
func (s *Store) GetJob(ctx context.Context, id string) (*store.Job, error) {
	var j store.Job
	if err := s.findOne(ctx, s.jobs, bson.M{"_id": id}, &j); err != nil {
		return nil, err
	}
	utcJob(&j)
	return &j, nil
}

// UpdateJob replaces a stored job.
func (s *Store) UpdateJob(ctx context.Context, j *store.Job) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.jobs.ReplaceOne(ctx, bson.M{"_id": j.ID}, j)
	if err != nil {
		return mapErr(err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongo: job %q: %w", j.ID, store.ErrNotFound)
	}
	return nil
}

// ListJobs returns jobs newest first.
func (s *Store) ListJobs(ctx context.Context, kind string, limit int) ([]*store.Job, error) {
	if limit <= 0 {
		limit = 100
	}
	filter := bson.M{}
	if kind != "" {
		filter["kind"] = kind
	}
	var out []*store.Job
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit))
	if err := s.findAll(ctx, s.jobs, filter, &out, opts); err != nil {
		return nil, err
	}
	for _, j := range out {
		utcJob(j)
	}
	return out, nil
}

func utcJob(j *store.Job) {
	j.CreatedAt, j.UpdatedAt, j.FinishedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC(), j.FinishedAt.UTC()
}
