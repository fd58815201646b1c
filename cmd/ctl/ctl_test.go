package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

const adminToken = "ctl-test-admin-token-0123"

// ctl runs the real ctl binary with a config dir of its own and none of
// the caller's CRYPTTALK_* variables.
type ctl struct {
	t   *testing.T
	bin string
	env []string
}

func newCtl(t *testing.T) *ctl {
	home := t.TempDir()
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "PATH=" + os.Getenv("PATH")}
	return &ctl{t: t, bin: testenv.Binary(t, "ctl"), env: env}
}

func (c *ctl) configFile() string {
	for _, e := range c.env {
		if v, ok := strings.CutPrefix(e, "XDG_CONFIG_HOME="); ok {
			return filepath.Join(v, "crypttalk", "ctl.yaml")
		}
	}
	return ""
}

// run answers stdout, stderr and the exit code; stdin is a pipe (not a
// terminal), holding in.
func (c *ctl) run(in string, args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	default:
		c.t.Fatalf("ctl %v: %v", args, err)
		return "", "", -1
	}
}

// ok runs with --server and --token and fails the test unless it exits 0.
func (c *ctl) ok(server, token string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run("", append([]string{"--server", server, "--token", token}, args...)...)
	if code != 0 {
		c.t.Fatalf("ctl %v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// code runs with --server and --token and answers the exit code and
// stderr.
func (c *ctl) code(server, token string, args ...string) (int, string) {
	c.t.Helper()
	_, errOut, code := c.run("", append([]string{"--server", server, "--token", token}, args...)...)
	return code, errOut
}

// startNode is a node with the admin API on its own listener; it answers
// the node and the admin base URL.
func startNode(t *testing.T, env ...string) (*testenv.Node, string) {
	admin := testenv.FreePort(t)
	n := testenv.StartNode(t, testenv.NodeConfig{Env: append([]string{
		"CRYPTTALK_ADMIN_TOKEN=" + adminToken, "CRYPTTALK_ADMIN_LISTEN=" + admin,
	}, env...)})
	return n, "http://" + admin
}

func register(t *testing.T, n *testenv.Node, name string) *client.Client {
	t.Helper()
	u := client.New(n.URL())
	if _, err := u.Register(context.Background(), name, name+"@example.org", "long enough pw"); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCtlAgainstRealNode(t *testing.T) {
	t.Parallel()
	redis := testenv.StartRedis(t)
	n, srv := startNode(t, "REDIS_URL="+redis.URL())
	c := newCtl(t)
	u := register(t, n, "operated")

	if out := c.ok(srv, adminToken, "health"); !strings.Contains(out, "store") || !strings.Contains(out, "ok") {
		t.Fatalf("health:\n%s", out)
	}
	var users []client.AdminUser
	if out := c.ok(srv, adminToken, "users", "list", "-q", "operat", "-o", "json"); json.Unmarshal([]byte(out), &users) != nil || len(users) != 1 || users[0].UserID != "@operated:localhost" {
		t.Fatalf("users list -o json: %s", out)
	}
	if out := c.ok(srv, adminToken, "users", "list", "-q", "nobody-like-this", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("an empty list is not [] in JSON: %q", out)
	}
	if out := c.ok(srv, adminToken, "users", "deactivate", "operated", "--yes"); !strings.Contains(out, "true") {
		t.Fatalf("deactivate:\n%s", out)
	}
	if _, err := u.Me(context.Background()); err == nil {
		t.Fatal("a deactivated user's token still works")
	}
	c.ok(srv, adminToken, "users", "reactivate", "@operated:localhost")
	c.ok(srv, adminToken, "users", "revoke", users[0].ID, "--yes")
	if out := c.ok(srv, adminToken, "keys", "rewrap"); !strings.Contains(out, "v1") {
		t.Fatalf("rewrap:\n%s", out)
	}
	c.ok(srv, adminToken, "purge", "--yes")

	// Failures exit 1 with a clear message.
	if code, msg := c.code(srv, "wrong-token-0123456789", "users", "list"); code != 1 || !strings.Contains(msg, "CT_UNAUTHORIZED") {
		t.Fatalf("wrong token: exit %d, %q", code, msg)
	}
	if code, msg := c.code(srv, "", "health"); code != 1 || !strings.Contains(msg, "admin token is required") {
		t.Fatalf("no token: exit %d, %q", code, msg)
	}
	if code, msg := c.code(srv, adminToken, "users", "deactivate", "nobody-at-all", "--yes"); code != 1 || !strings.Contains(msg, "CT_NOT_FOUND") {
		t.Fatalf("deactivating an unknown user: exit %d, %q", code, msg)
	}
	redis.Stop()
	out, _, code := c.run("", "--server", srv, "--token", adminToken, "health")
	if code != 1 || !strings.Contains(out, "bus") || !strings.Contains(out, "down") {
		t.Fatalf("health with Redis down: exit %d\n%s", code, out)
	}
}

func TestCtlUsageErrorsAndConfirmation(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	register(t, n, "keepme")
	for _, args := range [][]string{
		{"-o", "yaml", "health"},
		{"users", "list", "--no-such-flag"},
		{"users", "frobnicate"},
		{"no-such-command"},
		{"users", "deactivate"},
		{"users", "deactivate", "a", "b"},
		{"audit", "--since", "last tuesday"},
		{"--profile", "nowhere", "health"},
	} {
		if code, msg := c.code(srv, adminToken, args...); code != 2 || msg == "" {
			t.Errorf("ctl %v: exit %d (want 2), stderr %q", args, code, msg)
		}
	}
	// Off a terminal, destructive commands want --yes and change nothing.
	for _, args := range [][]string{{"users", "deactivate", "keepme"}, {"users", "revoke", "keepme"}, {"purge"}, {"users", "revoke-admin", "keepme"}} {
		if code, msg := c.code(srv, adminToken, args...); code != 2 || !strings.Contains(msg, "--yes") {
			t.Errorf("ctl %v without --yes: exit %d, %q", args, code, msg)
		}
	}
	var users []client.AdminUser
	if out := c.ok(srv, adminToken, "users", "list", "-o", "json"); json.Unmarshal([]byte(out), &users) != nil || len(users) != 1 || users[0].Deactivated {
		t.Fatalf("a refused deactivation changed the user: %s", out)
	}
	if out := c.ok(srv, adminToken, "audit", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("refused commands reached the server's audit log: %s", out)
	}
	if out, _, code := c.run("", "completion", "bash"); code != 0 || !strings.Contains(out, "__start_ctl") {
		t.Fatalf("completion bash: exit %d\n%.200s", code, out)
	}
	if out, _, code := c.run("", "--help"); code != 0 || !strings.Contains(out, "Exit codes") {
		t.Fatalf("--help: exit %d\n%s", code, out)
	}
}

func TestCtlLoginProfiles(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	register(t, n, "alice")
	root := register(t, n, "root")
	c.ok(srv, adminToken, "users", "make-admin", "root")

	// A wrong token is not saved.
	if _, msg, code := c.run("wrong-token-0123456789\n", "login", srv, "--profile", "bad"); code != 1 || !strings.Contains(msg, "CT_UNAUTHORIZED") {
		t.Fatalf("login with a wrong token: exit %d, %q", code, msg)
	}
	if _, err := os.Stat(c.configFile()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed login wrote the config: %v", err)
	}
	if _, msg, code := c.run(adminToken+"\n", "login", srv, "--profile", "ops"); code != 0 {
		t.Fatalf("login ops: exit %d, %s", code, msg)
	}
	if _, msg, code := c.run(root.Token+"\n", "login", srv+"/", "--profile", "rootuser"); code != 0 {
		t.Fatalf("login rootuser: exit %d, %s", code, msg)
	}
	st, err := os.Stat(c.configFile())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, mode %v", err, st.Mode())
	}
	raw, _ := os.ReadFile(c.configFile())
	if !strings.Contains(string(raw), adminToken) || !strings.Contains(string(raw), "current: rootuser") {
		t.Fatalf("config file:\n%s", raw)
	}

	// Saved logins need neither --server nor --token; --profile picks one.
	if out, msg, code := c.run("", "--profile", "ops", "users", "deactivate", "alice", "--yes"); code != 0 || !strings.Contains(out, "true") {
		t.Fatalf("--profile ops: exit %d\n%s%s", code, out, msg)
	}
	if out, msg, code := c.run("", "users", "reactivate", "alice"); code != 0 || !strings.Contains(out, "false") {
		t.Fatalf("current profile: exit %d\n%s%s", code, out, msg)
	}
	var es []client.AuditEntry
	if out, _, code := c.run("", "audit", "-o", "json"); code != 0 || json.Unmarshal([]byte(out), &es) != nil || len(es) < 2 ||
		es[0].Actor != "@root:localhost" || es[0].Action != "users.reactivate" || es[1].Actor != "admin-token" || es[1].Action != "users.deactivate" {
		t.Fatalf("audit after profile use: %+v", es)
	}
	var profiles []struct {
		Name    string `json:"name"`
		Current bool   `json:"current"`
	}
	out, _, _ := c.run("", "profiles", "-o", "json")
	if json.Unmarshal([]byte(out), &profiles) != nil || len(profiles) != 2 || profiles[0].Name != "ops" || !profiles[1].Current || strings.Contains(out, adminToken) {
		t.Fatalf("profiles: %s", out)
	}
	// A flag still beats the profile.
	if _, msg, code := c.run("", "--token", "wrong-token-0123456789", "users", "list"); code != 1 || !strings.Contains(msg, "CT_UNAUTHORIZED") {
		t.Fatalf("--token over the profile: exit %d, %q", code, msg)
	}
}
