package chat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crypttalk/crypttalk/internal/every"
	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/store"
)

// Job kinds.
const (
	JobRewrap    = "rewrap"
	JobPurge     = "purge"
	JobReencrypt = "reencrypt"
)

// CodeJobBusy: a job of that kind is queued or running already.
const CodeJobBusy = "CT_JOB_BUSY"

var jobKinds = []string{JobRewrap, JobPurge, JobReencrypt}

// jobBatch is how many data keys (rewrap) or messages (reencrypt) a job
// handles between two progress writes, cancellation and lease checks and
// pauses (limits.job_batch_pause).
const jobBatch = 64

// CreateJob queues a job of kind for the cluster; a node's RunJobs picks
// it up. One job per kind is queued or running at a time.
func (s *Service) CreateJob(ctx context.Context, kind, actor string) (*store.Job, error) {
	if kind != JobRewrap && kind != JobPurge && kind != JobReencrypt {
		return nil, Invalid("kind must be rewrap, purge or reencrypt")
	}
	if j, err := s.unfinishedJob(ctx, kind); err != nil {
		return nil, err
	} else if j != nil {
		return nil, Conflict(CodeJobBusy, fmt.Sprintf("%s job %s is %s; wait for it or cancel it", kind, j.ID, j.State))
	}
	now := s.now().UTC()
	j := &store.Job{ID: store.NewAuditID(now), Kind: kind, State: store.JobQueued, Actor: actor, CreatedAt: now, UpdatedAt: now}
	if err := s.store.PutJob(ctx, j); err != nil {
		return nil, storeError(err)
	}
	return j, nil
}

// unfinishedJob is the oldest queued or running job of kind, if any.
func (s *Service) unfinishedJob(ctx context.Context, kind string) (*store.Job, error) {
	js, err := s.store.ListJobs(ctx, kind, 50)
	if err != nil {
		return nil, storeError(err)
	}
	var found *store.Job
	for _, j := range js { // newest first: the last match is the oldest
		if !j.Finished() {
			found = j
		}
	}
	return found, nil
}

// GetJob loads a job.
func (s *Service) GetJob(ctx context.Context, id string) (*store.Job, error) {
	j, err := s.store.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("unknown job")
	}
	if err != nil {
		return nil, storeError(err)
	}
	return j, nil
}

// ListJobs lists jobs newest first.
func (s *Service) ListJobs(ctx context.Context, kind string, limit int) ([]*store.Job, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	js, err := s.store.ListJobs(ctx, kind, limit)
	if err != nil {
		return nil, storeError(err)
	}
	if js == nil {
		js = []*store.Job{}
	}
	return js, nil
}

// CancelJob marks an unfinished job cancelled; the node running it stops
// after its current batch. Work done stays done (a rewrapped key is valid
// either way).
func (s *Service) CancelJob(ctx context.Context, id string) (*store.Job, error) {
	j, err := s.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.Finished() {
		return nil, Conflict(CodeJobBusy, "job "+id+" is "+j.State+" already")
	}
	now := s.now().UTC()
	j.State, j.UpdatedAt, j.FinishedAt = store.JobCancelled, now, now
	if err := s.store.UpdateJob(ctx, j); err != nil {
		return nil, storeError(err)
	}
	return j, nil
}

// RunJobs runs queued jobs, and resumes running ones a stopped node left,
// on whichever node holds the kind's lease: one job per kind at a time
// across the cluster. A job's state lives in the store, so a restart only
// delays it.
func (s *Service) RunJobs(ctx context.Context, locker pubsub.Locker, interval time.Duration) {
	node := NodeID()
	ttl := 3*interval + time.Second
	every.Tick(ctx, interval, func(ctx context.Context) {
		for _, kind := range jobKinds {
			j, err := s.unfinishedJob(ctx, kind)
			if err != nil {
				if ctx.Err() == nil {
					s.work.setJobsError("down: " + err.Error())
				}
				continue
			}
			s.work.setJobsError("")
			if j == nil {
				continue
			}
			lease := func() bool {
				if locker == nil {
					return true
				}
				held, err := locker.TryLease(ctx, "job:"+kind, ttl)
				return err == nil && held
			}
			if !lease() {
				continue
			}
			s.runJob(ctx, j, node, lease)
		}
	})
}

func (s *Service) runJob(ctx context.Context, j *store.Job, node string, lease func() bool) {
	j.State, j.Node, j.Error = store.JobRunning, node, ""
	j.Runs++
	if !s.saveJob(ctx, j) {
		return
	}
	s.work.setJob(j.Kind, j.ID)
	defer s.work.setJob("", "")
	s.log.InfoContext(ctx, "job started", "job", j.ID, "kind", j.Kind, "run", j.Runs, "done", j.Done)
	var err error
	switch j.Kind {
	case JobRewrap:
		err = s.runRewrap(ctx, j, lease)
	case JobReencrypt:
		err = s.runReencrypt(ctx, j, lease)
	case JobPurge:
		var rep PurgeReport
		rep, err = s.PurgeOnce(ctx)
		j.Done = int64(rep.Messages + rep.Files + rep.Conversations)
		j.Total = j.Done
		j.Result = fmt.Sprintf("messages %d, files %d, conversations %d", rep.Messages, rep.Files, rep.Conversations)
	}
	if errors.Is(err, errJobStopped) || ctx.Err() != nil {
		return // cancelled, lease lost or node stopping: state already says what to do next
	}
	now := s.now().UTC()
	j.UpdatedAt, j.FinishedAt = now, now
	switch {
	case err != nil:
		j.State, j.Error = store.JobFailed, err.Error()
	case j.Failed > 0:
		j.State, j.Error = store.JobFailed, fmt.Sprintf("%d items failed; fix the cause (see the node's log) and start the job again", j.Failed)
	default:
		j.State = store.JobDone
	}
	s.saveJob(ctx, j)
	s.log.InfoContext(ctx, "job finished", "job", j.ID, "kind", j.Kind, "state", j.State, "done", j.Done, "failed", j.Failed)
}

var errJobStopped = errors.New("job stopped")

// saveJob writes progress unless the job was cancelled meanwhile.
func (s *Service) saveJob(ctx context.Context, j *store.Job) bool {
	cur, err := s.store.GetJob(ctx, j.ID)
	if err != nil || cur.State == store.JobCancelled {
		return false
	}
	j.UpdatedAt = s.now().UTC()
	if err := s.store.UpdateJob(ctx, j); err != nil {
		s.log.WarnContext(ctx, "job progress not saved", "job", j.ID, "err", err)
		return false
	}
	return true
}

// runRewrap is Rewrap in batches with progress. What is left is read from
// the store (keys not yet under the active version), so a resumed job
// continues where the last batch it saved ended.
func (s *Service) runRewrap(ctx context.Context, j *store.Job, lease func() bool) error {
	ring := s.Keyring()
	active := ring.Active()
	if err := s.checkMasterKey(ctx, ring, active); err != nil {
		return err
	}
	left, err := s.countNotWrappedBy(ctx, active)
	if err != nil {
		return err
	}
	// No key is wrapped by the empty version: this counts them all.
	all, err := s.countNotWrappedBy(ctx, "")
	if err != nil {
		return err
	}
	// Done is what the store says is under the active version, not a
	// count carried over: a run killed mid-batch re-wrapped keys it never
	// counted. Keys that failed before are among those left and are tried
	// again.
	j.Failed = 0
	j.Done, j.Total = all-left, all
	j.Result = "active " + active
	if !s.saveJob(ctx, j) {
		return errJobStopped
	}
	after := ""
	for {
		keys, err := s.store.ListDataKeysNotWrappedBy(ctx, active, after, jobBatch)
		if err != nil {
			return storeError(err)
		}
		if len(keys) == 0 {
			j.Result = fmt.Sprintf("active %s, %d of %d data keys under it, failed %d", active, j.Done, j.Total, j.Failed)
			return nil
		}
		for _, k := range keys {
			after = k.ID
			if err := s.rewrapOne(ctx, ring, k); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.log.ErrorContext(ctx, "rewrap failed", "job", j.ID, "key_id", k.ID, "err", err)
				j.Failed++
				continue
			}
			j.Done++
		}
		if !s.saveJob(ctx, j) || !lease() || !s.jobPause(ctx) {
			return errJobStopped
		}
	}
}

func (s *Service) countNotWrappedBy(ctx context.Context, version string) (int64, error) {
	var n int64
	after := ""
	for {
		keys, err := s.store.ListDataKeysNotWrappedBy(ctx, version, after, 1000)
		if err != nil {
			return 0, storeError(err)
		}
		n += int64(len(keys))
		if len(keys) < 1000 {
			return n, nil
		}
		after = keys[len(keys)-1].ID
	}
}
