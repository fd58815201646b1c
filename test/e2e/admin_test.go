package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

const e2eAdminToken = "e2e-admin-token-0123456789"

// runCtl runs the real ctl binary and answers stdout, stderr and the exit
// code.
func runCtl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t, "ctl"), args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("ctl %v: %v", args, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// TestAdminDeactivationClosesSocketsOnEveryNode: one ctl call on node 1
// closes the user's sockets on both nodes, refuses their token on both and
// refuses their login; the audit log read on node 2 names the action.
func TestAdminDeactivationClosesSocketsOnEveryNode(t *testing.T) {
	c := startCluster(t, "CRYPTTALK_ADMIN_TOKEN="+e2eAdminToken)
	n1, n2 := c.nodes[0], c.nodes[1]
	ctx := ctxT(t)
	alice, au := newUser(t, n1, "deact")
	bob, _ := newUser(t, n2, "bystander")
	on2 := client.WithBase(alice, n2.URL())
	s1 := connect(t, alice, nil)
	s2 := connect(t, on2, nil)
	bobConn := connect(t, bob, nil)

	out, msg, code := runCtl(t, "--server", n1.URL(), "--token", e2eAdminToken, "users", "deactivate", au.UserID, "--yes")
	if code != 0 || !strings.Contains(out, "true") {
		t.Fatalf("ctl users deactivate: exit %d\n%s%s", code, out, msg)
	}
	for i, s := range []*client.Conn{s1, s2} {
		closed := testenv.Poll(15*time.Second, func() bool {
			select {
			case _, open := <-s.Events():
				return !open
			default:
				return false
			}
		})
		if !closed {
			t.Fatalf("socket on node %d still open after deactivation", i+1)
		}
		if s.CloseCode() != 4001 {
			t.Errorf("socket on node %d: close %d, want 4001", i+1, s.CloseCode())
		}
	}
	for _, cl := range []*client.Client{alice, on2} {
		_, err := cl.Me(ctx)
		apiErr(t, err, 401, "CT_UNAUTHORIZED")
	}
	if _, err := client.New(n2.URL()).Login(ctx, au.Username, "correct horse battery"); err == nil {
		t.Fatal("a deactivated user logged in")
	}
	// A bystander's socket stays open.
	select {
	case _, open := <-bobConn.Events():
		if !open {
			t.Fatal("another user's socket was closed")
		}
	default:
	}

	out, _, code = runCtl(t, "--server", n2.URL(), "--token", e2eAdminToken, "audit", "--action", "users.deactivate", "-o", "json")
	if code != 0 || !strings.Contains(out, `"actor": "admin-token"`) || !strings.Contains(out, au.UserID) {
		t.Fatalf("audit on node 2: exit %d\n%s", code, out)
	}
	// Wrong or missing credentials: a clear error and exit 1.
	for _, tok := range []string{"wrong-token-0123456789", ""} {
		_, msg, code := runCtl(t, "--server", n2.URL(), "--token", tok, "users", "list")
		if code != 1 || msg == "" {
			t.Errorf("token %q: exit %d, %q", tok, code, msg)
		}
	}
}
