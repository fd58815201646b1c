package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/store/bolt"
)

// chatRing registers n users usr0..usr(n-1) and has every pair exchange per
// messages; it answers the clients and the texts of each pair's
// conversation, keyed "ui uj" (i < j).
func chatRing(t *testing.T, node *testenv.Node, n, per int) ([]*client.Client, map[string][]string) {
	t.Helper()
	ctx := context.Background()
	users := make([]*client.Client, n)
	for i := range n {
		users[i] = register(t, node, fmt.Sprintf("usr%d", i))
	}
	texts := map[string][]string{}
	for i := range n {
		for j := i + 1; j < n; j++ {
			for k := range per {
				text := fmt.Sprintf("u%d to u%d, number %d", i, j, k)
				if _, err := users[i].AddMsg(ctx, fmt.Sprintf("@usr%d:localhost", j), text, ""); err != nil {
					t.Fatal(err)
				}
				texts[fmt.Sprintf("u%d u%d", i, j)] = append(texts[fmt.Sprintf("u%d u%d", i, j)], text)
			}
		}
	}
	return users, texts
}

// readsBack checks that every conversation's history reads back in full.
func readsBack(t *testing.T, users []*client.Client, texts map[string][]string) {
	t.Helper()
	for pair, want := range texts {
		var i, j int
		_, _ = fmt.Sscanf(pair, "u%d u%d", &i, &j)
		msgs, err := users[i].GetMsg(context.Background(), client.GetMsgRequest{To: fmt.Sprintf("@usr%d:localhost", j), Limit: 200})
		if err != nil || len(msgs) != len(want) {
			t.Fatalf("conversation %s: %v, %d messages, want %d", pair, err, len(msgs), len(want))
		}
		for k, m := range msgs {
			if m.Message != want[k] {
				t.Fatalf("conversation %s message %d reads %q, want %q", pair, k, m.Message, want[k])
			}
		}
	}
}

// showJob is `ctl jobs show ID -o json`, or false when the node does not
// answer (it is being killed).
func (c *ctl) showJob(srv, id string) (client.Job, bool) {
	var j client.Job
	out, _, code := c.run("", "--server", srv, "--token", adminToken, "jobs", "show", id, "-o", "json")
	return j, code == 0 && json.Unmarshal([]byte(out), &j) == nil
}

// underOldKeys counts, in a stopped node's bolt store, the messages still
// sealed under a conversation key that is not the newest.
func underOldKeys(t *testing.T, dataDir string, convs int) (old, total int) {
	t.Helper()
	st, err := bolt.Open(dataDir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	seen := map[string]bool{}
	for i := 0; len(seen) < convs && i < 100; i++ {
		cs, err := st.ListConversations(ctx, fmt.Sprintf("@usr%d:localhost", i))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if seen[c.ID] {
				continue
			}
			seen[c.ID] = true
			keys, _ := st.ListDataKeys(ctx, c.ID)
			msgs, err := st.ListMessages(ctx, c.ID, store.MessageRange{Limit: 1000, Now: time.Now()})
			if err != nil || len(keys) < 2 {
				t.Fatalf("conversation %s: %v, %d keys", c.ID, err, len(keys))
			}
			for _, m := range msgs {
				total++
				if m.KeyID != keys[len(keys)-1].ID {
					old++
				}
			}
		}
	}
	return old, total
}

// TestCtlReencryptJobSurvivesKillMidJob: a reencrypt job paced by
// limits.job_batch_pause is killed (SIGKILL) after it made progress and
// before it ended; after the restart the same job resumes from its
// checkpoint (its progress never falls below it), runs a second time and
// ends done with every message looked at once; no message is left under
// an old data key and every message reads back.
func TestCtlReencryptJobSurvivesKillMidJob(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t, "CRYPTTALK_LIMITS_JOB_BATCH_PAUSE=250ms")
	c := newCtl(t)
	const users, per = 6, 3
	clients, texts := chatRing(t, n, users, per)
	const messages = users * (users - 1) / 2 * per // 45, one page per conversation

	var j client.Job
	c.jsonOut(srv, adminToken, &j, "keys", "rotate", "--reencrypt")
	if j.Kind != "reencrypt" || j.ID == "" {
		t.Fatalf("keys rotate --reencrypt: %+v", j)
	}
	// usr0's five conversations (15 messages) are done, so a checkpoint is
	// saved, and the job is not finished.
	var before client.Job
	if !testenv.Poll(30*time.Second, func() bool {
		got, ok := c.showJob(srv, j.ID)
		before = got
		return ok && (got.Done > 15 || got.Finished())
	}) || before.Finished() {
		t.Fatalf("the job did not make progress, or ended before it could be killed: %+v", before)
	}
	n.Kill()

	st, err := bolt.Open(n.DataDir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	killed, err := st.GetJob(context.Background(), j.ID)
	st.Close()
	var cp struct {
		After string `json:"after"`
		Done  int64  `json:"done"`
	}
	if err != nil || killed.State != store.JobRunning || json.Unmarshal([]byte(killed.Checkpoint), &cp) != nil || cp.After == "" || cp.Done < 15 {
		t.Fatalf("the killed job's record: %v %+v", err, killed)
	}
	t.Logf("killed at %d/%d, checkpoint after %s at %d", killed.Done, killed.Total, cp.After, cp.Done)

	n.Start()
	lowest := int64(messages)
	var after client.Job
	if !testenv.Poll(30*time.Second, func() bool {
		got, ok := c.showJob(srv, j.ID)
		if ok && got.Runs >= 2 {
			lowest = min(lowest, got.Done)
		}
		after = got
		return ok && got.Finished()
	}) {
		t.Fatalf("the job did not finish after the restart: %+v", after)
	}
	if after.State != "done" || after.Runs != 2 || after.Done != messages || after.Total != messages || after.Failed != 0 ||
		!strings.Contains(after.Result, fmt.Sprintf("%d of %d", messages, messages)) {
		t.Fatalf("the resumed job: %+v", after)
	}
	if lowest < cp.Done {
		t.Fatalf("the resumed job started over: progress %d below its checkpoint %d", lowest, cp.Done)
	}
	readsBack(t, clients, texts)
	n.Stop()
	if old, total := underOldKeys(t, n.DataDir, users*(users-1)/2); old != 0 || total != messages {
		t.Fatalf("after the job: %d of %d messages under an old key", old, total)
	}
}
