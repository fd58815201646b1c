package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// Close codes of docs/API.md that these tests hold the server to.
const (
	closeUnauthorized   = 4001
	closeTooManyFrames  = 4003
	closeTooManySockets = 4004
)

// authSocket opens a raw socket as c's user and reads up to ready.
func authSocket(t *testing.T, n *testenv.Node, c *client.Client) *websocket.Conn {
	t.Helper()
	ws := rawSocket(t, n, nil)
	if err := ws.WriteJSON(map[string]any{"event": "auth", "data": map[string]any{"token": c.Token}}); err != nil {
		t.Fatal(err)
	}
	for {
		if f := readFrame(t, ws); f.Event == "ready" {
			return ws
		}
	}
}

// eventsUntil reads conn's events up to the message text and returns the
// typing events seen on the way, by sender.
func eventsUntil(t *testing.T, conn *client.Conn, text string) map[string]int {
	t.Helper()
	typing := map[string]int{}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-conn.Events():
			if !ok {
				t.Fatalf("socket closed (code %d) while waiting for %q", conn.CloseCode(), text)
			}
			switch ev.Name {
			case "typing":
				var d struct{ From string }
				_ = json.Unmarshal(ev.Data, &d)
				typing[d.From]++
			case "msg-recieve":
				if msgWith(text)(ev.Data) {
					return typing
				}
			}
		case <-timeout:
			t.Fatalf("no message %q within 30s", text)
		}
	}
}

// TestWSAbuseFloodClosesTheFlooder replays the attack run: a user who
// shares a conversation with the victim floods typing and other frames.
// The flooder's socket is closed with 4003; the victim's stays open, gets
// a handful of typing events at most, and still receives messages. A
// stranger's typing never reaches the victim.
func TestWSAbuseFloodClosesTheFlooder(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	attacker, au := newUser(t, n, "flooder")
	victim, vu := newUser(t, n, "victim")
	stranger, su := newUser(t, n, "stranger")
	if _, err := attacker.AddMsg(ctx, vu.UserID, "hi, we are contacts now", ""); err != nil {
		t.Fatal(err)
	}
	v := connect(t, victim, nil)

	// The stranger's typing is acknowledged and dropped; its message that
	// follows is the sentinel.
	s := connect(t, stranger, nil)
	if _, err := s.Request(ctx, "typing", map[string]any{"to": vu.UserID, "typing": true}); err != nil {
		t.Fatalf("typing to a stranger must be acknowledged: %v", err)
	}
	if _, err := s.SendMsg(ctx, vu.UserID, "stranger sentinel", ""); err != nil {
		t.Fatal(err)
	}
	if got := eventsUntil(t, v, "stranger sentinel"); got[su.UserID] != 0 {
		t.Fatalf("a stranger's typing reached the victim %d times", got[su.UserID])
	}

	ws := authSocket(t, n, attacker)
	frames := [][]byte{
		[]byte(fmt.Sprintf(`{"event":"typing","data":{"to":%q,"typing":true}}`, vu.UserID)),
		[]byte(fmt.Sprintf(`{"event":"typing","data":{"to":%q,"typing":false}}`, vu.UserID)),
		[]byte(`{"event":"ping","id":1}`),
		[]byte(`{"event":"no-such-event"}`),
		[]byte(`not json`),
		[]byte(`{"event":"read","data":{"conversation_id":"!nope","seq":1}}`),
	}
	sent := 0
	_ = ws.SetWriteDeadline(time.Now().Add(30 * time.Second))
	for i := 0; i < 5000; i++ {
		if err := ws.WriteMessage(websocket.TextMessage, frames[i%len(frames)]); err != nil {
			break // the server closed the flooder
		}
		sent++
	}
	if code := closeCodeOf(t, ws); code != closeTooManyFrames {
		t.Fatalf("flooder closed with %d after %d frames, want %d", code, sent, closeTooManyFrames)
	}

	if _, err := attacker.AddMsg(ctx, vu.UserID, "after the flood", ""); err != nil {
		t.Fatal(err)
	}
	got := eventsUntil(t, v, "after the flood")
	select {
	case <-v.Done():
		t.Fatalf("the victim's socket was closed (code %d)", v.CloseCode())
	default:
	}
	// Coalesced and held to the pair's rate: a handful, not thousands.
	if got[au.UserID] > 20 {
		t.Fatalf("the victim got %d typing events from the flood", got[au.UserID])
	}
	t.Logf("flooder wrote %d frames and was closed with 4003; the victim saw %d typing events", sent, got[au.UserID])
}

// TestWSAbuseTokenExpiryClosesSocket: a socket is closed with 4001 when
// its token expires, not kept open for ever.
func TestWSAbuseTokenExpiryClosesSocket(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_KEYS_TOKEN_TTL=2s"}})
	c, u := newUser(t, n, "shortlived")
	// On a loaded machine the 2 s may pass before the socket is up: then
	// the auth is refused (401) and a fresh login tries again.
	var conn *client.Conn
	for try := 0; conn == nil; try++ {
		var err error
		if conn, err = c.Connect(ctxT(t), nil); err != nil {
			var e *client.APIError
			if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || try == 4 {
				t.Fatalf("connect within the token's 2 s: %v", err)
			}
			if _, err := c.Login(ctxT(t), u.Username, "correct horse battery"); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer conn.Close()
	select {
	case <-conn.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("socket still open 30 s after its token expired")
	}
	if code := conn.CloseCode(); code != closeUnauthorized {
		t.Fatalf("closed with %d at token expiry, want %d", code, closeUnauthorized)
	}
}

// TestWSAbuseSocketCaps: the 21st socket of one user is refused with 4004
// (after an error frame), and unauthenticated sockets of one address stop
// at the cap: HTTP 429 before the upgrade. (A socket that raced past the
// upgrade check is closed with 4004: TestPendingPerIPCap in the gateway.)
func TestWSAbuseSocketCaps(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_LIMITS_WS_PENDING_PER_IP=8"}})
	c, _ := newUser(t, n, "hoarder")
	for i := 0; i < 20; i++ {
		connect(t, c, nil)
	}
	ws := rawSocket(t, n, nil)
	if err := ws.WriteJSON(map[string]any{"event": "auth", "data": map[string]any{"token": c.Token}}); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, ws); f.Event != "error" || !strings.Contains(string(f.Data), "CT_RATE_LIMITED") {
		t.Fatalf("21st socket got %s %s, want error CT_RATE_LIMITED", f.Event, f.Data)
	}
	if code := closeCodeOf(t, ws); code != closeTooManySockets {
		t.Fatalf("21st socket closed with %d, want %d", code, closeTooManySockets)
	}
	// Another user of the same address is not affected.
	other, _ := newUser(t, n, "neighbour")
	connect(t, other, nil)

	// Eight sockets held without auth; each is known to be in the
	// handshake (and counted) once it has answered a frame that is not auth.
	for i := 0; i < 8; i++ {
		ws := rawSocket(t, n, nil)
		if err := ws.WriteJSON(map[string]any{"event": "ping"}); err != nil {
			t.Fatal(err)
		}
		if f := readFrame(t, ws); f.Event != "error" {
			t.Fatalf("held socket %d got %s, want an error (auth first)", i, f.Event)
		}
	}
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+n.Addr+"/ws", nil)
	if err == nil {
		conn.Close()
		t.Fatal("a ninth unauthenticated socket from one address was upgraded")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("ninth unauthenticated socket: %v (%+v), want 429 with Retry-After", err, resp)
	}
}

// TestWSAbuseSlowloris: a request whose headers never finish, or whose
// small body never comes, is dropped after limits.header_timeout, not held
// for the 60 s read timeout.
func TestWSAbuseSlowloris(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_LIMITS_HEADER_TIMEOUT=1s"}})
	for name, half := range map[string]string{
		"headers": "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ",
		"body":    "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\":",
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", n.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte(half)); err != nil {
				t.Fatal(err)
			}
			// Generous bound, well under the old 60 s: the server must
			// hang up (with or without a 408 first).
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err = io.ReadAll(conn)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("a half-sent request was still open after 30 s")
			}
		})
	}
	// A whole request still gets its answer.
	resp, err := http.Get(n.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
}
