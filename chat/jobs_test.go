package chat_test

import (
	"context"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

// TestRewrapJobCountsKeysAlreadyUnderTheActiveVersion: a rewrap run that
// starts with some keys already under the active version (a run killed
// mid-batch re-wrapped them without saving its count; or they were made
// after the switch) reports every key: Done == Total == all data keys,
// so a resumed job ends with the same figures as an uninterrupted one.
func TestRewrapJobCountsKeysAlreadyUnderTheActiveVersion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.send(t, "alice", "bob", "under v1")
	e.send(t, "alice", "eve", "under v1 too")
	ring, err := vault.ParseKeyring("v1:"+b64key(1)+",v2:"+b64key(2), "")
	if err != nil {
		t.Fatal(err)
	}
	e.svc.SetKeyring(ring)
	e.send(t, "bob", "eve", "under v2 from the start")
	n, err := e.st.Count(ctx, e.clk.Now(), e.clk.Now())
	if err != nil || n.DataKeys["v1"] != 2 || n.DataKeys["v2"] != 1 {
		t.Fatalf("keys before: %+v %v", n, err)
	}
	j, err := e.svc.CreateJob(ctx, chat.JobRewrap, "test")
	if err != nil {
		t.Fatal(err)
	}
	jctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.svc.RunJobs(jctx, nil, 5*time.Millisecond); close(done) }()
	defer func() { stop(); <-done }()
	var got *store.Job
	waitFor(t, func() bool {
		got, err = e.svc.GetJob(ctx, j.ID)
		return err == nil && got.Finished()
	})
	if got.State != store.JobDone || got.Done != 3 || got.Total != 3 || got.Failed != 0 {
		t.Fatalf("rewrap job: %+v", got)
	}
}
