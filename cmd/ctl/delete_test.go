package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
)

func TestCtlUsersDeletePurge(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	ctx := context.Background()
	alice := register(t, n, "alice")
	bob := register(t, n, "bob")
	carol := register(t, n, "carol")
	for _, to := range []string{"@bob:localhost", "@carol:localhost"} {
		if _, err := alice.AddMsg(ctx, to, "hi from alice", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bob.AddMsg(ctx, "@carol:localhost", "bob to carol stays", ""); err != nil {
		t.Fatal(err)
	}
	uploadFile(t, n, alice.Token, "@bob:localhost", []byte("%PDF-1.7\nsecret"))
	conn, err := bob.Connect(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var before client.Stats
	c.jsonOut(srv, adminToken, &before, "stats")

	for _, args := range [][]string{{"users", "delete", "alice"}, {"users", "delete", "alice", "--purge"}} {
		if code, msg := c.code(srv, adminToken, args...); code != 2 {
			t.Fatalf("ctl %v: exit %d %q", args, code, msg)
		}
	}
	var r client.DeleteReport
	c.jsonOut(srv, adminToken, &r, "users", "delete", "alice", "--purge", "--yes")
	if r.UserID != "@alice:localhost" || r.Conversations != 2 || r.Sessions != 1 {
		t.Fatalf("delete: %+v", r)
	}
	timeout := time.After(15 * time.Second)
	for got := false; !got; {
		select {
		case ev, open := <-conn.Events():
			if !open {
				t.Fatal("bob's socket closed")
			}
			got = ev.Name == "conversation-destroyed"
		case <-timeout:
			t.Fatal("bob never saw conversation-destroyed")
		}
	}
	var after client.Stats
	c.jsonOut(srv, adminToken, &after, "stats")
	if after.Counts.Users != 2 || after.Counts.Conversations != 1 || after.Counts.Files != 0 || after.Counts.Messages != 1 || before.Counts.Files != 1 {
		t.Fatalf("stats before %+v after %+v", before.Counts, after.Counts)
	}
	if msgs, err := carol.GetMsg(ctx, client.GetMsgRequest{To: "@bob:localhost"}); err != nil || len(msgs) != 1 {
		t.Fatalf("an unrelated conversation was touched: %v %+v", err, msgs)
	}
	if _, err := alice.Me(ctx); err == nil {
		t.Fatal("a deleted user's token works")
	}
	if code, _ := c.code(srv, adminToken, "users", "show", "alice"); code != 1 {
		t.Fatal("a deleted user is still shown")
	}
	register(t, n, "alice") // the name is free again
	var es []client.AuditEntry
	c.jsonOut(srv, adminToken, &es, "audit", "--action", "users.delete")
	if len(es) != 1 || es[0].Target != "@alice:localhost" || es[0].Result != "ok" {
		t.Fatalf("audit: %+v", es)
	}
	if !strings.Contains(c.ok(srv, adminToken, "users", "delete", "--help"), "--purge") {
		t.Fatal("help does not name --purge")
	}
}
