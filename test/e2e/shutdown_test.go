package e2e

import (
	"strings"
	"testing"

	"github.com/fasthttp/websocket"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// SIGTERM drains in order: sockets still authenticating are closed with
// 1001 like authenticated ones (not left to the auth timeout or cut
// without a close frame), every worker is joined before the store
// closes, and the node exits cleanly.
func TestShutdownClosesEverySocketInOrder(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_LIMITS_WS_AUTH_TIMEOUT=1m"}})
	alice, _ := newUser(t, n, "drain")
	authed := rawSocket(t, n, nil)
	_ = authed.WriteJSON(map[string]any{"event": "auth", "data": map[string]any{"token": alice.Token}})
	if f := readFrame(t, authed); f.Event != "ready" {
		t.Fatal(f.Event)
	}
	pending := rawSocket(t, n, nil)
	_ = pending.WriteJSON(map[string]any{"event": "ping", "id": "1"})
	if f := readFrame(t, pending); f.Event != "error" {
		t.Fatalf("frame before auth: %s", f.Event) // the server holds it in the handshake
	}
	n.Stop()
	for name, c := range map[string]*websocket.Conn{"authenticated": authed, "authenticating": pending} {
		if code := closeCodeOf(t, c); code != websocket.CloseGoingAway {
			t.Fatalf("%s socket at shutdown: close %d, want 1001", name, code)
		}
	}
	logs := n.Logs()
	if !strings.Contains(logs, `"stopped"`) || strings.Contains(logs, "shutdown:") {
		t.Fatalf("shutdown was not clean:\n%s", logs)
	}
}
