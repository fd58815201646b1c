package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/client"
)

func TestCtlUsersCreateShowListResetSessions(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	ctx := context.Background()

	// create: a generated password is shown once and works.
	var made struct {
		User     client.AdminUser `json:"user"`
		Password string           `json:"password"`
	}
	c.jsonOut(srv, adminToken, &made, "users", "create", "carol", "--email", "carol@example.org", "--admin")
	if made.User.UserID != "@carol:localhost" || !made.User.Admin || len(made.Password) < 16 {
		t.Fatalf("create: %+v", made)
	}
	carol := client.New(n.URL())
	if _, err := carol.Login(ctx, "carol", made.Password); err != nil {
		t.Fatalf("login with the generated password: %v", err)
	}
	// ... and from stdin; a bad one is refused with the reason.
	out, msg, code := c.run("a fine password\n", "--server", srv, "--token", adminToken, "users", "create", "dave", "--email", "dave@example.org", "--password-stdin", "-o", "json")
	if code != 0 || strings.Contains(out, "a fine password") {
		t.Fatalf("create --password-stdin: exit %d\n%s%s", code, out, msg)
	}
	dave := client.New(n.URL())
	if _, err := dave.Login(ctx, "dave", "a fine password"); err != nil {
		t.Fatal(err)
	}
	if _, msg, code := c.run("short\n", "--server", srv, "--token", adminToken, "users", "create", "erin", "--email", "erin@example.org", "--password-stdin"); code != 1 || !strings.Contains(msg, "CT_INVALID") {
		t.Fatalf("a short password: exit %d, %q", code, msg)
	}
	if code, msg := c.code(srv, adminToken, "users", "create", "carol", "--email", "other@example.org"); code != 1 || !strings.Contains(msg, "CT_USER_IN_USE") && !strings.Contains(msg, "taken") && !strings.Contains(msg, "already") {
		t.Fatalf("a taken username: exit %d, %q", code, msg)
	}
	if code, _ := c.code(srv, adminToken, "users", "create", "frank"); code != 2 {
		t.Fatalf("create without --email: exit %d, want 2", code)
	}

	// sessions and show.
	var ss []client.Session
	c.jsonOut(srv, adminToken, &ss, "users", "sessions", "dave")
	if len(ss) != 1 || ss[0].Expired || strings.Contains(dave.Token, ss[0].ID) {
		t.Fatalf("sessions of dave: %+v", ss)
	}
	var d client.UserDetail
	c.jsonOut(srv, adminToken, &d, "users", "show", "@dave:localhost")
	if d.User.Username != "dave" || d.Sessions != 1 || d.User.Admin {
		t.Fatalf("show: %+v", d)
	}

	// reset-password revokes every session; the new password works.
	var reset struct {
		Revoked  int    `json:"revoked"`
		Password string `json:"password"`
	}
	c.jsonOut(srv, adminToken, &reset, "users", "reset-password", "dave", "--yes")
	if reset.Revoked != 1 || reset.Password == "" {
		t.Fatalf("reset-password: %+v", reset)
	}
	if _, err := dave.Me(ctx); err == nil {
		t.Fatal("a session survived reset-password")
	}
	if _, err := client.New(n.URL()).Login(ctx, "dave", "a fine password"); err == nil {
		t.Fatal("the old password still works")
	}
	if _, err := dave.Login(ctx, "dave", reset.Password); err != nil {
		t.Fatal(err)
	}
	if n := c.ok(srv, adminToken, "users", "revoke-sessions", "dave", "--yes"); !strings.Contains(n, "1") {
		t.Fatalf("revoke-sessions: %s", n)
	}
	if _, err := dave.Me(ctx); err == nil {
		t.Fatal("revoke-sessions left a session")
	}

	// list: filters and paging.
	for i := range 5 {
		register(t, n, fmt.Sprintf("user%d", i))
	}
	c.ok(srv, adminToken, "users", "deactivate", "user3", "--yes")
	var us []client.AdminUser
	c.jsonOut(srv, adminToken, &us, "users", "list", "--admin")
	if len(us) != 1 || us[0].Username != "carol" {
		t.Fatalf("--admin: %+v", us)
	}
	c.jsonOut(srv, adminToken, &us, "users", "list", "--deactivated")
	if len(us) != 1 || us[0].Username != "user3" {
		t.Fatalf("--deactivated: %+v", us)
	}
	c.jsonOut(srv, adminToken, &us, "users", "list", "--deactivated=false", "-q", "user")
	if len(us) != 4 {
		t.Fatalf("--deactivated=false -q user: %+v", us)
	}
	var names []string
	after := ""
	for range 10 {
		out, msg, code := c.run("", "--server", srv, "--token", adminToken, "users", "list", "--limit", "3", "--after", after, "--deactivated=false", "-o", "json")
		if code != 0 {
			t.Fatalf("page after %q: exit %d %s", after, code, msg)
		}
		var page []client.AdminUser
		if err := jsonUnmarshal(out, &page); err != nil {
			t.Fatal(err)
		}
		for _, u := range page {
			names = append(names, u.Username)
		}
		next, ok := strings.CutPrefix(strings.TrimSpace(msg), "more: --after ")
		if !ok {
			break
		}
		after = next
	}
	if strings.Join(names, ",") != "carol,dave,user0,user1,user2,user4" {
		t.Fatalf("paged: %v", names)
	}
	if code, _ := c.code(srv, adminToken, "users", "show", "nobody"); code != 1 {
		t.Fatalf("show of an unknown user: exit %d", code)
	}
}
