package main

import (
	"context"
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
