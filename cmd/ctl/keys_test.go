package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/store/bolt"
)

// TestCtlKeysRotateNewMessagesUnderNewKeys: after keys rotate, each
// conversation has a second data key, new messages are sealed under it
// (read from the store itself), and old and new messages both read back.
func TestCtlKeysRotateNewMessagesUnderNewKeys(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	ctx := context.Background()
	alice := register(t, n, "alice")
	register(t, n, "bob")
	register(t, n, "carol")
	for _, to := range []string{"@bob:localhost", "@carol:localhost"} {
		if _, err := alice.AddMsg(ctx, to, "old", ""); err != nil {
			t.Fatal(err)
		}
	}
	var before, after client.KeysStatus
	c.jsonOut(srv, adminToken, &before, "keys", "status")
	var r client.RotateReport
	c.jsonOut(srv, adminToken, &r, "keys", "rotate")
	if r.Rotated != 2 || r.Active != before.Active {
		t.Fatalf("rotate: %+v", r)
	}
	c.jsonOut(srv, adminToken, &after, "keys", "status")
	if after.DataKeys[after.Active] != before.DataKeys[before.Active]+2 {
		t.Fatalf("keys before %+v after %+v", before, after)
	}
	for _, to := range []string{"@bob:localhost", "@carol:localhost"} {
		if _, err := alice.AddMsg(ctx, to, "new", ""); err != nil {
			t.Fatal(err)
		}
		msgs, err := alice.GetMsg(ctx, client.GetMsgRequest{To: to})
		if err != nil || len(msgs) != 2 || msgs[0].Message != "old" || msgs[1].Message != "new" {
			t.Fatalf("messages with %s after the rotation: %v %+v", to, err, msgs)
		}
	}
	var vr client.VerifyReport
	c.jsonOut(srv, adminToken, &vr, "keys", "verify")
	if vr.Opened[after.Active] != after.DataKeys[after.Active] || len(vr.Failed) != 0 {
		t.Fatalf("verify: %+v", vr)
	}

	n.Stop()
	st, err := bolt.Open(n.DataDir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	convs, err := st.ListConversations(ctx, "@alice:localhost")
	if err != nil || len(convs) != 2 {
		t.Fatalf("conversations: %v %d", err, len(convs))
	}
	for _, cv := range convs {
		keys, _ := st.ListDataKeys(ctx, cv.ID)
		msgs, err := st.ListMessages(ctx, cv.ID, store.MessageRange{Limit: 10, Now: time.Now()})
		if err != nil || len(keys) != 2 || len(msgs) != 2 {
			t.Fatalf("conversation %s: %v, %d keys, %d messages", cv.ID, err, len(keys), len(msgs))
		}
		if msgs[0].KeyID != keys[0].ID || msgs[1].KeyID != keys[1].ID {
			t.Fatalf("conversation %s: messages under %s, %s; keys %s (old), %s (new)", cv.ID, msgs[0].KeyID, msgs[1].KeyID, keys[0].ID, keys[1].ID)
		}
	}
}

// TestCtlKeysRotateReencryptWhileChatting: keys rotate --reencrypt --wait
// re-seals the history under the new keys while a client keeps sending;
// afterwards no message is under an old key and every message reads back.
func TestCtlKeysRotateReencryptWhileChatting(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	ctx := context.Background()
	alice := register(t, n, "alice")
	bob := register(t, n, "bob")
	for i := range 40 {
		if _, err := alice.AddMsg(ctx, "@bob:localhost", fmt.Sprintf("history %d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	sent := make(chan int)
	go func() {
		i := 0
		defer func() { sent <- i }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := bob.AddMsg(ctx, "@alice:localhost", fmt.Sprintf("live %d", i), ""); err != nil {
				return
			}
			i++
		}
	}()
	var j client.Job
	c.jsonOut(srv, adminToken, &j, "keys", "rotate", "--reencrypt", "--wait")
	close(stop)
	live := <-sent
	if j.Kind != "reencrypt" || j.State != "done" || j.Done < 40 || j.Failed != 0 {
		t.Fatalf("reencrypt job: %+v", j)
	}
	msgs, err := alice.GetMsg(ctx, client.GetMsgRequest{To: "@bob:localhost", BeforeSeq: 41, Limit: 40})
	if err != nil || len(msgs) != 40 {
		t.Fatalf("history after re-encryption: %v, %d messages", err, len(msgs))
	}
	for i := range 40 {
		if msgs[i].Message != fmt.Sprintf("history %d", i) {
			t.Fatalf("message %d reads %q", i, msgs[i].Message)
		}
	}
	if live > 0 {
		last, err := alice.GetMsg(ctx, client.GetMsgRequest{To: "@bob:localhost", Limit: 1})
		if err != nil || len(last) != 1 || last[0].Message != fmt.Sprintf("live %d", live-1) {
			t.Fatalf("the last live message: %v %+v", err, last)
		}
	}

	n.Stop()
	st, err := bolt.Open(n.DataDir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	convs, _ := st.ListConversations(ctx, "@alice:localhost")
	if len(convs) != 1 {
		t.Fatalf("conversations: %d", len(convs))
	}
	keys, _ := st.ListDataKeys(ctx, convs[0].ID)
	stored, err := st.ListMessages(ctx, convs[0].ID, store.MessageRange{Limit: 1000, Now: time.Now()})
	if err != nil || len(keys) != 2 || len(stored) != 40+live {
		t.Fatalf("store: %v, %d keys, %d messages", err, len(keys), len(stored))
	}
	for _, m := range stored {
		if m.KeyID == keys[0].ID {
			t.Fatalf("message %d is still under the old key", m.Seq)
		}
	}
	t.Logf("re-encrypted %d messages while %d were sent", j.Done, live)
}
