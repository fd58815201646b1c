package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

const adminToken = "ctl-test-admin-token-0123"

func run(t *testing.T, server, token string, args ...string) (string, error) {
	t.Helper()
	cmd := newRoot()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"--server", server, "--token", token}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestCtlAgainstRealNode(t *testing.T) {
	redis := testenv.StartRedis(t)
	admin := testenv.FreePort(t)
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{
		"CRYPTTALK_ADMIN_TOKEN=" + adminToken, "CRYPTTALK_ADMIN_LISTEN=" + admin, "REDIS_URL=" + redis.URL(),
	}})
	srv := "http://" + admin
	u := client.New(n.URL())
	if _, err := u.Register(context.Background(), "operated", "op@example.org", "long enough pw"); err != nil {
		t.Fatal(err)
	}

	out, err := run(t, srv, adminToken, "health")
	if err != nil || !strings.Contains(out, "store") || !strings.Contains(out, "ok") {
		t.Fatalf("health: %v\n%s", err, out)
	}
	out, err = run(t, srv, adminToken, "users", "list", "-q", "operat", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var users []client.AdminUser
	if json.Unmarshal([]byte(out), &users) != nil || len(users) != 1 || users[0].UserID != "@operated:localhost" {
		t.Fatalf("users list -o json: %s", out)
	}
	out, err = run(t, srv, adminToken, "users", "deactivate", "operated")
	if err != nil || !strings.Contains(out, "true") {
		t.Fatalf("deactivate: %v\n%s", err, out)
	}
	if _, err := u.Me(context.Background()); err == nil {
		t.Fatal("a deactivated user's token still works")
	}
	if _, err := run(t, srv, adminToken, "users", "reactivate", "@operated:localhost"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, srv, adminToken, "users", "revoke", users[0].ID); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, srv, adminToken, "keys", "rewrap"); err != nil || !strings.Contains(out, "v1") {
		t.Fatalf("rewrap: %v\n%s", err, out)
	}
	if _, err := run(t, srv, adminToken, "purge"); err != nil {
		t.Fatal(err)
	}

	// Failures exit non-zero.
	if _, err := run(t, srv, "wrong-token-0123456789", "users", "list"); err == nil {
		t.Fatal("a wrong token succeeded")
	}
	if _, err := run(t, srv, "", "health"); err == nil {
		t.Fatal("no token succeeded")
	}
	if _, err := run(t, srv, adminToken, "users", "deactivate", "nobody-at-all"); err == nil {
		t.Fatal("deactivating an unknown user succeeded")
	}
	if _, err := run(t, srv, adminToken, "-o", "yaml", "health"); err == nil {
		t.Fatal("unknown output format accepted")
	}
	redis.Stop()
	out, err = run(t, srv, adminToken, "health")
	if err == nil || !strings.Contains(out, "bus") || !strings.Contains(out, "down") {
		t.Fatalf("health with Redis down: %v\n%s", err, out)
	}
}
