package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fasthttp/websocket"
)

// While the node drains, upgrades are refused with 503 (so the load
// balancer retries elsewhere) and open sockets get 1001.
func TestDrainingRefusesUpgradesAndClosesSockets(t *testing.T) {
	t.Parallel()
	addr, svc, srv := startServerWith(t)
	conn, _ := dialAs(t, addr, svc, "alice")

	srv.draining.Store(true) // the first step of Shutdown
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade while draining: %v %v, want 503", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "CT_UNAVAILABLE") {
		t.Fatalf("503 body %s", body)
	}

	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
				t.Fatalf("open socket at shutdown: %v, want 1001", err)
			}
			return
		}
	}
}
