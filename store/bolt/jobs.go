package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// bJobs holds jobs keyed by ID; created by the first write.
var bJobs = []byte("jobs") // id -> Job

// PutJob stores a new job.
func (s *Store) PutJob(ctx context.Context, j *store.Job) error {
	if err := checkIDs(j.ID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bJobs)
		if err != nil {
			return err
		}
		if b.Get([]byte(j.ID)) != nil {
			return conflict("job", []byte(j.ID))
		}
		return putJSON(tx, bJobs, []byte(j.ID), j)
	})
}

// GetJob loads a job.
func (s *Store) GetJob(ctx context.Context, id string) (*store.Job, error) {
	j := new(store.Job)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bJobs) == nil {
			return notFound("job", []byte(id))
		}
		return getJSON(tx, bJobs, []byte(id), j)
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// UpdateJob replaces a stored job.
func (s *Store) UpdateJob(ctx context.Context, j *store.Job) error {
	if err := checkIDs(j.ID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bJobs)
		if b == nil || b.Get([]byte(j.ID)) == nil {
			return notFound("job", []byte(j.ID))
		}
		return putJSON(tx, bJobs, []byte(j.ID), j)
	})
}

// ListJobs walks the jobs newest first.
func (s *Store) ListJobs(ctx context.Context, kind string, limit int) ([]*store.Job, error) {
	if limit <= 0 {
		limit = defaultPageLimit
	}
	var out []*store.Job
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bJobs)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			j := new(store.Job)
			if err := json.Unmarshal(v, j); err != nil {
				return fmt.Errorf("bolt: decode job %q: %w", k, err)
			}
			if kind == "" || j.Kind == kind {
				out = append(out, j)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
