package store

import (
	"context"
	"time"
)

// Job states. A job is finished in JobDone, JobFailed or JobCancelled.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobDone      = "done"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
)

// Job is a long admin operation (rewrap, purge) that runs in the
// background on whichever node holds its kind's lease, and that a node
// resumes after a restart from what the store says is left.
type Job struct {
	ID         string    `json:"id" bson:"_id"` // sorts by creation (NewAuditID)
	Kind       string    `json:"kind" bson:"kind"`
	State      string    `json:"state" bson:"state"`
	Actor      string    `json:"actor" bson:"actor"`
	Node       string    `json:"node,omitempty" bson:"node"` // last node that ran it
	Done       int64     `json:"done" bson:"done"`
	Total      int64     `json:"total" bson:"total"`
	Failed     int64     `json:"failed" bson:"failed"`
	Runs       int64     `json:"runs" bson:"runs"` // how many times a node (re)started it
	Result     string    `json:"result,omitempty" bson:"result"`
	Error      string    `json:"error,omitempty" bson:"error"`
	CreatedAt  time.Time `json:"created_at" bson:"created_at"`
	UpdatedAt  time.Time `json:"updated_at" bson:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero" bson:"finished_at"`

	// Checkpoint is where a resumed run starts, in the kind's own terms
	// (opaque to the store), saved with the progress it goes with.
	Checkpoint string `json:"checkpoint,omitempty" bson:"checkpoint,omitempty"`
}

// Finished reports whether the job will not run again.
func (j *Job) Finished() bool {
	return j.State == JobDone || j.State == JobFailed || j.State == JobCancelled
}

// Jobs stores jobs.
type Jobs interface {
	// PutJob stores a new job; ErrConflict if its ID is taken.
	PutJob(ctx context.Context, j *Job) error
	GetJob(ctx context.Context, id string) (*Job, error)
	// UpdateJob replaces a stored job; ErrNotFound if there is none.
	UpdateJob(ctx context.Context, j *Job) error
	// ListJobs returns up to limit jobs, of kind when non-empty, newest
	// (highest ID) first.
	ListJobs(ctx context.Context, kind string, limit int) ([]*Job, error)
}
