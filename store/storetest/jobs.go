package storetest

import (
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

var jobCases = []testCase{
	{"RoundTripAndUpdate", testJobRoundTrip},
	{"ListNewestFirstByKind", testJobList},
	{"Missing", testJobMissing},
}

func newJob(kind string, at time.Time) *store.Job {
	return &store.Job{ID: store.NewAuditID(at), Kind: kind, State: store.JobQueued, Actor: "admin-token", CreatedAt: at, UpdatedAt: at}
}

func testJobRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	j := newJob("rewrap", t0)
	must(t, s.PutJob(ctx, j))
	wantErr(t, s.PutJob(ctx, j), store.ErrConflict, "second PutJob of one id")
	j.State, j.Node, j.Done, j.Total, j.Failed, j.Runs, j.Result = store.JobDone, "node-a", 10, 10, 1, 2, "rewrapped 9"
	j.Checkpoint = `{"after":"bob","done":10}`
	j.UpdatedAt, j.FinishedAt = t0.Add(time.Minute), t0.Add(time.Minute)
	must(t, s.UpdateJob(ctx, j))
	got, err := s.GetJob(ctx, j.ID)
	must(t, err)
	if got.State != store.JobDone || got.Node != "node-a" || got.Done != 10 || got.Total != 10 || got.Failed != 1 || got.Runs != 2 ||
		got.Result != "rewrapped 9" || got.Checkpoint != j.Checkpoint || got.Kind != "rewrap" || !got.FinishedAt.Equal(t0.Add(time.Minute)) || !got.CreatedAt.Equal(t0) || !got.Finished() {
		t.Fatalf("GetJob = %+v", got)
	}
}

func testJobList(t *testing.T, s store.Store) {
	ctx := t.Context()
	var ids []string
	for i, kind := range []string{"rewrap", "purge", "rewrap", "purge", "rewrap"} {
		j := newJob(kind, t0.Add(time.Duration(i)*time.Second))
		must(t, s.PutJob(ctx, j))
		ids = append(ids, j.ID)
	}
	got, err := s.ListJobs(ctx, "rewrap", 0)
	must(t, err)
	if len(got) != 3 || got[0].ID != ids[4] || got[1].ID != ids[2] || got[2].ID != ids[0] {
		t.Fatalf("ListJobs rewrap: %+v", got)
	}
	all, err := s.ListJobs(ctx, "", 2)
	must(t, err)
	if len(all) != 2 || all[0].ID != ids[4] || all[1].ID != ids[3] {
		t.Fatalf("ListJobs all, 2: %+v", all)
	}
	if !all[0].FinishedAt.IsZero() || all[0].Finished() {
		t.Fatalf("an unfinished job: %+v", all[0])
	}
}

func testJobMissing(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetJob(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetJob unknown")
	wantErr(t, s.UpdateJob(ctx, newJob("rewrap", t0)), store.ErrNotFound, "UpdateJob unknown")
	none, err := s.ListJobs(ctx, "", 0)
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("jobs of an empty store: %v", none)
	}
}
