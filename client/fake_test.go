package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// peer is the server side of one socket of the fake server.
type peer struct {
	t  *testing.T
	ws *websocket.Conn
}

// read returns the next frame the client sent, failing the test on error.
func (p *peer) read() frame {
	p.t.Helper()
	_ = p.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := p.ws.ReadMessage()
	if err != nil {
		p.t.Errorf("fake server read: %v", err)
		return frame{}
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		p.t.Errorf("client sent non-JSON %q", b)
	}
	return f
}

// send writes {"event","data","id"} (id "" is left out).
func (p *peer) send(event string, data any, id string) {
	p.t.Helper()
	f := map[string]any{"event": event, "data": data}
	if id != "" {
		f["id"] = id
	}
	if err := p.ws.WriteJSON(f); err != nil {
		p.t.Errorf("fake server write: %v", err)
	}
}

// closeWith sends a close frame with code and waits for the client's echo.
func (p *peer) closeWith(code int, text string) {
	msg := websocket.FormatCloseMessage(code, text)
	_ = p.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	_ = p.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := p.ws.ReadMessage(); err != nil {
			return
		}
	}
}

// drain reads until the client closes the socket, answering its close.
func (p *peer) drain() {
	_ = p.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := p.ws.ReadMessage(); err != nil {
			return
		}
	}
}

// handshake reads the auth frame and answers ready for alice.
func (p *peer) handshake() frame {
	p.t.Helper()
	f := p.read()
	if f.Event != "auth" {
		p.t.Errorf("first frame %q, want auth", f.Event)
	}
	p.send("ready", alice, "")
	return f
}

var alice = User{ID: "u1", UserID: "@alice:test", Username: "alice"}

// fakeWS starts a server whose /ws runs script on each socket; the socket
// is closed when script returns. Other paths answer 404.
func fakeWS(t *testing.T, script func(p *peer)) *Client {
	t.Helper()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	// Hijacked sockets outlive httptest's Close: wait for the scripts so
	// none reports to a finished test.
	var scripts sync.WaitGroup
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		scripts.Add(1) // before the hijack, which srv.Close synchronises with
		defer scripts.Done()
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		script(&peer{t: t, ws: ws})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); scripts.Wait() })
	c := New(srv.URL)
	c.Token = "tok"
	return c
}

// connect opens a socket to c and closes it when the test ends.
func connect(t *testing.T, c *Client) *Conn {
	t.Helper()
	conn, err := c.Connect(testCtx(t), nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// nextEvent waits for the next event, failing if the socket ends first.
func nextEvent(t *testing.T, conn *Conn) Event {
	t.Helper()
	select {
	case ev, ok := <-conn.Events():
		if !ok {
			t.Fatalf("socket ended (code %d) before the next event", conn.CloseCode())
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return Event{}
}

// waitEnd waits until Events is closed, returning the events that came first.
func waitEnd(t *testing.T, conn *Conn) []Event {
	t.Helper()
	var got []Event
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-conn.Events():
			if !ok {
				return got
			}
			got = append(got, ev)
		case <-timeout:
			t.Fatal("socket did not end within 10s")
		}
	}
}
