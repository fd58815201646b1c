package e2e

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/fasthttp/websocket"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

func register(t *testing.T, n *testenv.Node, name, xff string) int {
	t.Helper()
	body := `{"username":"` + name + `","email":"` + name + `@example.org","password":"long enough pw"}`
	req, _ := http.NewRequest("POST", n.URL()+"/api/auth/register", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	return resp.StatusCode
}

func TestRateLimits(t *testing.T) {
	t.Run("spoofed X-Forwarded-For does not reset the limit", func(t *testing.T) {
		n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_RATELIMIT_REGISTER_PER_IP_COUNT=2"}})
		for i, xff := range []string{"", "10.0.0.1"} {
			if got := register(t, n, "rl"+string(rune('a'+i)), xff); got != 200 {
				t.Fatalf("register %d: %d", i, got)
			}
		}
		if got := register(t, n, "rlc", "10.9.9.9"); got != 429 {
			t.Fatalf("third register with a spoofed header: %d, want 429", got)
		}
	})
	t.Run("behind a trusted proxy the forwarded address counts", func(t *testing.T) {
		n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_RATELIMIT_REGISTER_PER_IP_COUNT=1", "CRYPTTALK_SERVER_TRUSTED_PROXIES=127.0.0.1"}})
		if got := register(t, n, "pxa", "203.0.113.1"); got != 200 {
			t.Fatal(got)
		}
		if got := register(t, n, "pxb", "203.0.113.1"); got != 429 {
			t.Fatalf("same client behind the proxy: %d, want 429", got)
		}
		if got := register(t, n, "pxc", "203.0.113.2"); got != 200 {
			t.Fatalf("another client behind the proxy: %d, want 200", got)
		}
		// A client-made entry left of the proxy's cannot pick the bucket.
		if got := register(t, n, "pxd", "203.0.113.2, 203.0.113.1"); got != 429 {
			t.Fatalf("spoofed left-most entry: %d, want 429", got)
		}
	})
	t.Run("login per username", func(t *testing.T) {
		n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_RATELIMIT_LOGIN_PER_USER_COUNT=3"}})
		c, u := newUser(t, n, "victim")
		for i := 0; i < 3; i++ {
			_, _ = client.New(n.URL()).Login(ctxT(t), u.Username, "wrong password")
		}
		_, err := client.New(n.URL()).Login(ctxT(t), u.Username, "correct horse battery")
		apiErr(t, err, 429, "CT_RATE_LIMITED")
		var e *client.APIError
		if ok := asAPI(err, &e); !ok || e.RetryAfter <= 0 {
			t.Fatalf("no Retry-After: %v", err)
		}
		_ = c
	})
}

func asAPI(err error, e **client.APIError) bool {
	ae, ok := err.(*client.APIError)
	*e = ae
	return ok
}

func TestOperations(t *testing.T) {
	admin := testenv.FreePort(t)
	const token = "admin-token-0123456789"
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_ADMIN_LISTEN=" + admin, "CRYPTTALK_ADMIN_TOKEN=" + token}})
	alice, _ := newUser(t, n, "alice")
	_, bu := newUser(t, n, "bob")
	if _, err := alice.AddMsg(ctxT(t), bu.UserID, "counted", ""); err != nil {
		t.Fatal(err)
	}
	get := func(url, bearer string) (int, string) {
		req, _ := http.NewRequest("GET", url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := get("http://"+admin+"/metrics", "")
	if status != 200 || !strings.Contains(body, "crypttalk_messages_stored_total 1") || !strings.Contains(body, "crypttalk_http_request_duration_seconds") {
		t.Fatalf("admin /metrics: %d\n%.500s", status, body)
	}
	if status, _ := get(n.URL()+"/metrics", ""); status != 401 {
		t.Fatalf("public /metrics without token: %d", status)
	}
	if status, _ := get(n.URL()+"/metrics", token); status != 200 {
		t.Fatalf("public /metrics with admin token: %d", status)
	}
	if status, body := get(n.URL()+"/readyz", ""); status != 200 || !strings.Contains(body, `"store":"ok"`) {
		t.Fatalf("readyz %d %s", status, body)
	}
	if status, _ := get(n.URL()+"/healthz", ""); status != 200 {
		t.Fatal("healthz")
	}
	// With an admin listener the admin API lives there only.
	if status, _ := get("http://"+admin+"/_admin/v1/users", alice.Token); status != 401 {
		t.Fatal("a user's token opened the admin API")
	}
	if status, _ := get(n.URL()+"/_admin/v1/users", token); status != 404 {
		t.Fatalf("admin API on the public listener: %d, want 404", status)
	}
	if status, body := get("http://"+admin+"/_admin/v1/users", token); status != 200 || !strings.Contains(body, bu.UserID) {
		t.Fatalf("admin users: %d", status)
	}

	// Deactivation: sockets close, tokens stop, a correct login is 403.
	carol, cu := newUser(t, n, "carol")
	cconn := connect(t, carol, nil)
	req, _ := http.NewRequest("POST", "http://"+admin+"/_admin/v1/users/"+cu.ID+"/deactivate", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("deactivate: %v %v", resp, err)
	}
	resp.Body.Close()
	for range cconn.Events() {
	}
	if cconn.CloseCode() != 4001 {
		t.Fatalf("deactivated user's socket: close %d", cconn.CloseCode())
	}
	_, err = client.New(n.URL()).Login(ctxT(t), cu.Username, "correct horse battery")
	apiErr(t, err, 403, "CT_USER_DEACTIVATED")
	_, err = carol.Me(ctxT(t))
	apiErr(t, err, 401, "CT_UNAUTHORIZED")

	out, err := exec.Command(testenv.Binary(t, "crypttalkd"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "crypttalkd ") {
		t.Fatalf("version: %s %v", out, err)
	}

	// SIGTERM closes sockets with a going-away frame.
	raw := rawSocket(t, n, nil)
	_ = raw.WriteJSON(map[string]any{"event": "auth", "data": map[string]any{"token": alice.Token}})
	if f := readFrame(t, raw); f.Event != "ready" {
		t.Fatal(f.Event)
	}
	n.Stop()
	if code := closeCodeOf(t, raw); code != websocket.CloseGoingAway {
		t.Fatalf("close on shutdown: %d, want 1001", code)
	}
}
