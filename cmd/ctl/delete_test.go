package main

import (
	"context"
	"reflect"
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

func TestCtlPurgeConversationAndUserDryRunFirst(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	ctx := context.Background()
	alice := register(t, n, "alice")
	register(t, n, "bob")
	register(t, n, "carol")
	for i := range 3 {
		if _, err := alice.AddMsg(ctx, "@bob:localhost", "to bob "+string(rune('a'+i)), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alice.AddMsg(ctx, "@carol:localhost", "to carol", ""); err != nil {
		t.Fatal(err)
	}
	uploadFile(t, n, alice.Token, "@bob:localhost", []byte("%PDF-1.7\nx"))
	var st0, st1 client.Stats
	c.jsonOut(srv, adminToken, &st0, "stats")

	var dry client.PurgeScope
	c.jsonOut(srv, adminToken, &dry, "purge", "conversation", "alice", "@bob:localhost", "--dry-run")
	c.jsonOut(srv, adminToken, &st1, "stats")
	if !dry.DryRun || dry.Conversations != 1 || dry.Messages != 4 || dry.Files != 1 || !reflect.DeepEqual(st1.Counts, st0.Counts) {
		t.Fatalf("dry run: %+v; stats before %+v after %+v", dry, st0.Counts, st1.Counts)
	}
	if code, _ := c.code(srv, adminToken, "purge", "conversation", "alice", "bob"); code != 2 {
		t.Fatal("purge conversation without --yes off a terminal ran")
	}
	var done client.PurgeScope
	c.jsonOut(srv, adminToken, &done, "purge", "conversation", "alice", "bob", "--yes")
	if done.DryRun || done.Messages != dry.Messages || done.Files != 1 {
		t.Fatalf("purge conversation: %+v", done)
	}
	c.jsonOut(srv, adminToken, &st1, "stats")
	if st1.Counts.Conversations != 1 || st1.Counts.Files != 0 || st1.Counts.Messages != st0.Counts.Messages-4 {
		t.Fatalf("after: %+v", st1.Counts)
	}
	if code, msg := c.code(srv, adminToken, "purge", "conversation", "alice", "bob", "--yes"); code != 1 || !strings.Contains(msg, "CT_NOT_FOUND") {
		t.Fatalf("purging a gone conversation: exit %d %q", code, msg)
	}

	c.jsonOut(srv, adminToken, &dry, "purge", "user", "alice", "--dry-run")
	if dry.Conversations != 1 || dry.Messages != 1 {
		t.Fatalf("purge user --dry-run: %+v", dry)
	}
	c.jsonOut(srv, adminToken, &done, "purge", "user", "alice", "--yes")
	c.jsonOut(srv, adminToken, &st1, "stats")
	if done.Conversations != 1 || st1.Counts.Conversations != 0 || st1.Counts.Messages != 0 || st1.Counts.Users != 3 {
		t.Fatalf("purge user: %+v, stats %+v", done, st1.Counts)
	}
	if _, err := alice.Me(ctx); err != nil {
		t.Fatalf("purge user touched the account: %v", err)
	}
	if code, _ := c.code(srv, adminToken, "purge", "frobnicate"); code != 2 {
		t.Fatal("an unknown purge scope was not a usage error")
	}
}

func TestCtlPurgeOlderThan(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	ctx := context.Background()
	alice := register(t, n, "alice")
	bob := register(t, n, "bob")
	for _, text := range []string{"old one", "old two"} {
		if _, err := alice.AddMsg(ctx, "@bob:localhost", text, ""); err != nil {
			t.Fatal(err)
		}
	}
	<-time.After(1500 * time.Millisecond) // the test is about age
	if _, err := bob.AddMsg(ctx, "@alice:localhost", "recent", ""); err != nil {
		t.Fatal(err)
	}
	var st0, st1 client.Stats
	c.jsonOut(srv, adminToken, &st0, "stats")
	var dry client.PurgeScope
	c.jsonOut(srv, adminToken, &dry, "purge", "older-than", "1s", "--dry-run")
	c.jsonOut(srv, adminToken, &st1, "stats")
	if !dry.DryRun || dry.Messages != 2 || dry.Conversations != 1 || st1.Counts.Messages != st0.Counts.Messages {
		t.Fatalf("dry run: %+v, messages %d then %d", dry, st0.Counts.Messages, st1.Counts.Messages)
	}
	var done client.PurgeScope
	c.jsonOut(srv, adminToken, &done, "purge", "older-than", "1s", "--yes")
	msgs, err := alice.GetMsg(ctx, client.GetMsgRequest{To: "@bob:localhost"})
	if done.Messages != 2 || err != nil || len(msgs) != 1 || msgs[0].Message != "recent" {
		t.Fatalf("purge older-than: %+v, left %v %+v", done, err, msgs)
	}
	for _, d := range []string{"0s", "soon", "-3d"} {
		if code, _ := c.code(srv, adminToken, "purge", "older-than", d, "--dry-run"); code != 2 {
			t.Errorf("older-than %s: exit %d, want 2", d, code)
		}
	}
}
