package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/client"
)

func TestCtlAuditRecordsEveryAdminActionWithItsActor(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	register(t, n, "bob")
	root := register(t, n, "root")
	plain := register(t, n, "plain")

	// A user without the admin flag is no admin, and is not audited.
	if code, msg := c.code(srv, plain.Token, "users", "list"); code != 1 || !strings.Contains(msg, "CT_UNAUTHORIZED") {
		t.Fatalf("a plain user's token: exit %d, %q", code, msg)
	}
	c.ok(srv, adminToken, "users", "make-admin", "@root:localhost")
	c.ok(srv, root.Token, "users", "deactivate", "bob", "--yes")
	c.ok(srv, root.Token, "users", "reactivate", "bob")
	if code, _ := c.code(srv, root.Token, "users", "deactivate", "ghost", "--yes"); code != 1 {
		t.Fatalf("deactivating an unknown user: exit %d", code)
	}
	c.ok(srv, adminToken, "keys", "rewrap")
	c.ok(srv, adminToken, "users", "revoke-admin", "root", "--yes")
	if code, _ := c.code(srv, root.Token, "audit"); code != 1 {
		t.Fatal("a withdrawn admin still reads the audit log")
	}

	audit := func(args ...string) []client.AuditEntry {
		t.Helper()
		var es []client.AuditEntry
		out := c.ok(srv, adminToken, append([]string{"audit", "-o", "json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &es); err != nil {
			t.Fatalf("audit %v: %v\n%s", args, err, out)
		}
		return es
	}
	type row struct{ actor, action, target, result string }
	var got []row
	for _, e := range audit() {
		if e.ClientIP != "127.0.0.1" || e.At.IsZero() || e.ID == "" {
			t.Errorf("entry without where or when: %+v", e)
		}
		res := e.Result
		if res != "ok" {
			res = strings.SplitN(res, ":", 2)[0]
		}
		got = append(got, row{e.Actor, e.Action, e.Target, res})
	}
	want := []row{
		{"admin-token", "users.revoke-admin", "@root:localhost", "ok"},
		{"admin-token", "keys.rewrap", "", "ok"},
		{"@root:localhost", "users.deactivate", "ghost", "CT_NOT_FOUND"},
		{"@root:localhost", "users.reactivate", "@bob:localhost", "ok"},
		{"@root:localhost", "users.deactivate", "@bob:localhost", "ok"},
		{"admin-token", "users.make-admin", "@root:localhost", "ok"},
	}
	if len(got) != len(want) {
		t.Fatalf("audit log:\n got %v\nwant %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("audit entry %d: got %v, want %v", i, got[i], want[i])
		}
	}

	if es := audit("--actor", "@root:localhost"); len(es) != 3 {
		t.Fatalf("--actor: %d entries", len(es))
	}
	if es := audit("--action", "users.deactivate"); len(es) != 2 {
		t.Fatalf("--action: %d entries", len(es))
	}
	if es := audit("--actor", "@root:localhost", "--action", "users.reactivate"); len(es) != 1 || es[0].Target != "@bob:localhost" {
		t.Fatalf("--actor --action: %+v", es)
	}
	if es := audit("--since", "1h"); len(es) != 6 {
		t.Fatalf("--since 1h: %d entries", len(es))
	}
	if es := audit("--until", "2000-01-01T00:00:00Z"); len(es) != 0 {
		t.Fatalf("--until 2000: %d entries", len(es))
	}
	// Paging: two at a time, newest first, nothing lost or repeated.
	var ids []string
	first := audit("--limit", "2")
	for page := first; len(page) > 0; page = audit("--limit", "2", "--before", page[len(page)-1].ID) {
		for _, e := range page {
			ids = append(ids, e.ID)
		}
	}
	if len(ids) != 6 || ids[0] != first[0].ID {
		t.Fatalf("paged %d ids", len(ids))
	}
	out := c.ok(srv, adminToken, "audit", "--action", "keys.rewrap")
	if !strings.Contains(out, "ACTOR") || !strings.Contains(out, "admin-token") || !strings.Contains(out, "keys.rewrap") {
		t.Fatalf("audit table:\n%s", out)
	}
}
