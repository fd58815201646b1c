package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
)

func TestCtlNoticeSend(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	ctx := context.Background()
	alice := register(t, n, "alice")
	bob := register(t, n, "bob")
	register(t, n, "carol")
	c.ok(srv, adminToken, "users", "deactivate", "carol", "--yes")
	conn, err := alice.Connect(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	var r client.NoticeReport
	c.jsonOut(srv, adminToken, &r, "notice", "send", "alice", "Your account was checked.")
	if r.Sent != 1 {
		t.Fatalf("notice to alice: %+v", r)
	}
	timeout := time.After(15 * time.Second)
	for got := false; !got; {
		select {
		case ev, open := <-conn.Events():
			if !open {
				t.Fatal("socket closed")
			}
			got = ev.Name == "msg-recieve" && strings.Contains(string(ev.Data), "Your account was checked.") && strings.Contains(string(ev.Data), "@notices:localhost")
		case <-timeout:
			t.Fatal("the notice never reached alice's socket")
		}
	}

	if code, msg := c.code(srv, adminToken, "notice", "send", "--all", "Maintenance tonight."); code != 2 || !strings.Contains(msg, "--yes") {
		t.Fatalf("--all without --yes: exit %d %q", code, msg)
	}
	c.jsonOut(srv, adminToken, &r, "notice", "send", "--all", "Maintenance tonight.", "--yes")
	if r.Sent != 2 || r.Skipped != 1 || len(r.Failed) != 0 {
		t.Fatalf("notice --all: %+v", r)
	}
	msgs, err := bob.GetMsg(ctx, client.GetMsgRequest{To: "@notices:localhost"})
	if err != nil || len(msgs) != 1 || msgs[0].Message != "Maintenance tonight." || msgs[0].From != "@notices:localhost" {
		t.Fatalf("bob's notices: %v %+v", err, msgs)
	}
	if _, err := client.New(n.URL()).Login(ctx, "notices", ""); err == nil {
		t.Fatal("logged in as the notices account")
	}
	for _, args := range [][]string{{"notice", "send", "nobody-here", "hi"}, {"notice", "send", "alice", ""}} {
		if code, _ := c.code(srv, adminToken, args...); code != 1 {
			t.Errorf("ctl %v: exit %d, want 1", args, code)
		}
	}
	for _, args := range [][]string{{"notice", "send", "alice"}, {"notice", "send", "--all", "a", "b"}} {
		if code, _ := c.code(srv, adminToken, args...); code != 2 {
			t.Errorf("ctl %v: exit %d, want 2", args, code)
		}
	}
	var es []client.AuditEntry
	c.jsonOut(srv, adminToken, &es, "audit", "--action", "notice.send")
	if len(es) != 4 || es[2].Target != "all" || es[3].Target != "alice" || es[3].Result != "ok" {
		t.Fatalf("audit of notices: %+v", es)
	}
}

// TestCtlNoticeRefusesASquattedName: a user who registered "notices" first
// is not used to send server notices.
func TestCtlNoticeRefusesASquattedName(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	register(t, n, "notices")
	register(t, n, "alice")
	if code, msg := c.code(srv, adminToken, "notice", "send", "alice", "hi"); code != 1 || !strings.Contains(msg, "belongs to a user") {
		t.Fatalf("notice with a squatted name: exit %d %q", code, msg)
	}
}
