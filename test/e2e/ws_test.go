package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

func TestWebSocketChat(t *testing.T) {
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	alice, au := newUser(t, n, "alice")
	bob, bu := newUser(t, n, "bob")
	// A conversation must exist for presence to be shared.
	first, err := alice.AddMsg(ctx, bu.UserID, "first", "")
	if err != nil {
		t.Fatal(err)
	}
	conv := first.ConversationID

	a1 := connect(t, alice, nil)
	a2 := connect(t, alice, nil) // a second device
	if a1.Ready().UserID != au.UserID {
		t.Fatalf("ready for %+v", a1.Ready())
	}
	b1 := connect(t, bob, nil)
	waitEvent(t, a1, "user-connected", func(d json.RawMessage) bool { return strings.Contains(string(d), bu.UserID) })

	m, err := a1.SendMsg(ctx, bu.UserID, "over the socket", "t-1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq <= first.Seq || m.From != au.UserID {
		t.Fatalf("ack %+v", m)
	}
	waitEvent(t, b1, "msg-recieve", msgWith("over the socket"))
	waitEvent(t, a2, "msg-recieve", msgWith("over the socket")) // every device of the sender too
	waitEvent(t, a1, "receipt", func(d json.RawMessage) bool { return strings.Contains(string(d), `"delivered"`) })

	// Replayed txn over the socket: same message.
	again, err := a1.SendMsg(ctx, bu.UserID, "over the socket", "t-1")
	if err != nil || again.ID != m.ID {
		t.Fatalf("txn replay over ws: %+v %v", again, err)
	}

	if err := b1.Send(ctx, "typing", map[string]any{"to": au.UserID, "typing": true}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a1, "typing", func(d json.RawMessage) bool { return strings.Contains(string(d), bu.UserID) })

	if _, err := b1.Request(ctx, "read", map[string]any{"conversation_id": conv, "seq": m.Seq}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a1, "receipt", func(d json.RawMessage) bool { return strings.Contains(string(d), `"read"`) })

	if _, err := b1.Request(ctx, "add-user", map[string]any{"userId": bu.ID}); err != nil {
		t.Fatalf("add-user must be accepted: %v", err)
	}
	if _, err := b1.Request(ctx, "ping", nil); err != nil {
		t.Fatalf("ping: %v", err)
	}

	t.Run("errors keep the socket open", func(t *testing.T) {
		_, err := b1.Request(ctx, "no-such-event", map[string]any{})
		apiErr(t, err, 400, "CT_UNKNOWN_EVENT")
		_, err = b1.SendMsg(ctx, au.UserID, strings.Repeat("x", 16385), "")
		apiErr(t, err, 413, "CT_TOO_LARGE")
		_, err = b1.Request(ctx, "read", map[string]any{"conversation_id": "!someone-elses", "seq": 1})
		apiErr(t, err, 404, "CT_NOT_FOUND")
		_, err = b1.Request(ctx, "send-msg", map[string]any{"from": au.UserID, "to": au.UserID, "msg": "spoof"})
		apiErr(t, err, 403, "CT_FORBIDDEN")
		if _, err := b1.SendMsg(ctx, au.UserID, "still here", ""); err != nil {
			t.Fatalf("socket unusable after errors: %v", err)
		}
	})

	t.Run("disconnect is announced", func(t *testing.T) {
		b1.Close()
		waitEvent(t, a1, "user-disconnected", func(d json.RawMessage) bool { return strings.Contains(string(d), bu.UserID) })
	})
}

func TestWebSocketReplayAndDevices(t *testing.T) {
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	alice, _ := newUser(t, n, "alice")
	bob, bu := newUser(t, n, "bob")
	b1 := connect(t, bob, nil)
	first, err := alice.AddMsg(ctx, bu.UserID, "m0", "")
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, b1, "msg-recieve", msgWith("m0"))
	b1.Close()
	for _, text := range []string{"m1", "m2", "m3"} {
		if _, err := alice.AddMsg(ctx, bu.UserID, text, ""); err != nil {
			t.Fatal(err)
		}
	}
	// Reconnect with since: exactly the missed messages, in order, then live.
	b2 := connect(t, bob, map[string]int64{first.ConversationID: first.Seq})
	got := drainMessages(b2, 500*time.Millisecond)
	if len(got) != 3 || got[0].Message != "m1" || got[2].Message != "m3" {
		t.Fatalf("replay: %+v", got)
	}
	if _, err := alice.AddMsg(ctx, bu.UserID, "live", ""); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, b2, "msg-recieve", msgWith("live"))
	if extra := drainMessages(b2, 300*time.Millisecond); len(extra) != 0 {
		t.Fatalf("duplicates after replay: %+v", extra)
	}
	// Without since nothing is replayed.
	b3 := connect(t, bob, map[string]int64{})
	if got := drainMessages(b3, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("replayed without since: %d", len(got))
	}
	// Another user's conversation in since is ignored, not leaked.
	eve, _ := newUser(t, n, "eve")
	e1 := connect(t, eve, map[string]int64{first.ConversationID: 0})
	if got := drainMessages(e1, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("a stranger got %d messages through since", len(got))
	}
}

func TestWebSocketAbuse(t *testing.T) {
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_LIMITS_WS_AUTH_TIMEOUT=1s", "CRYPTTALK_LIMITS_WS_FRAME_BYTES=20000"}})
	ctx := ctxT(t)
	alice, _ := newUser(t, n, "alice")

	t.Run("no auth frame in time", func(t *testing.T) {
		raw := rawSocket(t, n, nil)
		if code := closeCodeOf(t, raw); code != 4002 {
			t.Fatalf("close code %d, want 4002", code)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		raw := rawSocket(t, n, nil)
		_ = raw.WriteJSON(map[string]any{"event": "auth", "data": map[string]any{"token": "forged"}})
		if f := readFrame(t, raw); f.Event != "error" || !strings.Contains(string(f.Data), "CT_UNAUTHORIZED") {
			t.Fatalf("frame %+v", f)
		}
		if code := closeCodeOf(t, raw); code != 4001 {
			t.Fatalf("close code %d, want 4001", code)
		}
	})
	t.Run("not JSON, unknown event, oversized frame", func(t *testing.T) {
		raw := rawSocket(t, n, nil)
		_ = raw.WriteJSON(map[string]any{"event": "auth", "data": map[string]any{"token": alice.Token}})
		if f := readFrame(t, raw); f.Event != "ready" {
			t.Fatalf("want ready, got %+v", f)
		}
		_ = raw.WriteMessage(websocket.TextMessage, []byte("this is not json"))
		if f := readFrame(t, raw); f.Event != "error" || !strings.Contains(string(f.Data), "CT_BAD_JSON") {
			t.Fatalf("non-JSON: %+v", f)
		}
		deep := `{"event":"ping","data":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`
		_ = raw.WriteMessage(websocket.TextMessage, []byte(deep))
		if f := readFrame(t, raw); f.Event != "error" {
			t.Fatalf("deep JSON: %+v", f)
		}
		_ = raw.WriteJSON(map[string]any{"event": "nope", "id": 7})
		if f := readFrame(t, raw); f.Event != "error" || string(f.ID) != "7" {
			t.Fatalf("unknown event: %+v", f)
		}
		_ = raw.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 25000)))
		if code := closeCodeOf(t, raw); code != websocket.CloseMessageTooBig {
			t.Fatalf("close code %d, want 1009", code)
		}
	})
	t.Run("foreign origin refused", func(t *testing.T) {
		_, resp, err := websocket.DefaultDialer.Dial("ws://"+n.Addr+"/ws", http.Header{"Origin": {"https://evil.example"}})
		if err == nil || resp == nil || resp.StatusCode != 403 {
			t.Fatalf("foreign origin: %v %v", err, resp)
		}
		ok := rawSocket(t, n, http.Header{"Origin": {"http://" + n.Addr}})
		ok.Close()
	})
	t.Run("logout closes sockets at once", func(t *testing.T) {
		c, _ := newUser(t, n, "carl")
		conn := connect(t, c, nil)
		if err := c.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		for range conn.Events() {
		}
		if conn.CloseCode() != 4001 {
			t.Fatalf("close code %d after logout, want 4001", conn.CloseCode())
		}
		_, err := c.Connect(ctx, nil)
		if err == nil {
			t.Fatal("revoked token opened a socket")
		}
	})
}

func TestExpiredToken(t *testing.T) {
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_KEYS_TOKEN_TTL=1s"}})
	ctx := ctxT(t)
	c, _ := newUser(t, n, "short")
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := c.Me(ctx)
		if err != nil {
			apiErr(t, err, 401, "CT_UNAUTHORIZED")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("token never expired")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := c.Connect(ctx, nil); err == nil {
		t.Fatal("expired token opened a socket")
	}
	var _ = client.Event{}
}
