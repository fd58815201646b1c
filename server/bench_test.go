package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"

	"github.com/fasthttp/websocket"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/pubsub/local"
	"github.com/crypttalk/crypttalk/server/gateway"
	"github.com/crypttalk/crypttalk/store/bolt"
	"github.com/crypttalk/crypttalk/vault"
)

// startServer runs a whole node (embedded store, local bus) in-process on
// a loopback port.
func startServer(tb testing.TB) (string, *chat.Service) {
	tb.Helper()
	addr, svc, _ := startServerWith(tb)
	return addr, svc
}

// startServerWith is startServer that also returns the Server.
func startServerWith(tb testing.TB, tune ...func(*Options)) (string, *chat.Service, *Server) {
	tb.Helper()
	dir := tb.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "db"), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ring, _, err := vault.LoadOrCreateKeyring(dir)
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := chat.New(context.Background(), chat.Options{ServerName: "bench", BcryptCost: 4}, chat.Deps{Store: st, Bus: local.New(), Keyring: ring, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	opts := Options{Logger: log}
	for _, f := range tune {
		f(&opts)
	}
	srv, err := New(svc, opts)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		_ = st.Close()
	})
	return ln.Addr().String(), svc, srv
}

func dialAs(tb testing.TB, addr string, svc *chat.Service, name string) (*websocket.Conn, string) {
	tb.Helper()
	u, tok, err := svc.Register(context.Background(), chat.Credentials{Username: name, Email: name + "@x.org", Password: "long enough"})
	if err != nil {
		tb.Fatal(err)
	}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if err := c.WriteJSON(map[string]any{"event": "auth", "data": map[string]any{"token": tok}}); err != nil {
		tb.Fatal(err)
	}
	waitFor(tb, c, "ready")
	return c, u.UserID
}

func waitFor(tb testing.TB, c *websocket.Conn, event string) {
	tb.Helper()
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			tb.Fatal(err)
		}
		var f struct {
			Event string `json:"event"`
		}
		if json.Unmarshal(b, &f) == nil && f.Event == event {
			return
		}
	}
}

// BenchmarkMessageWSToWS is one message's whole path: a WebSocket send-msg,
// durable store, fan-out, and msg-recieve on the recipient's socket.
func BenchmarkMessageWSToWS(b *testing.B) {
	// The default frame budget (20/s, bursts of 100) would close the
	// sender's socket (4003) once the loop outruns it.
	addr, svc, _ := startServerWith(b, func(o *Options) { o.WSLimits = gateway.Limits{FrameRate: 1e6, FrameBurst: 1e6} })
	sender, _ := dialAs(b, addr, svc, "alice")
	recv, bob := dialAs(b, addr, svc, "bob")
	frame, _ := json.Marshal(map[string]any{"event": "send-msg", "data": map[string]any{"to": bob, "msg": "benchmark message of a typical length, about eighty bytes long."}})
	// The sender's socket gets its echoes and receipts: read them, or the
	// server cuts it as a slow consumer once the socket buffers fill and
	// the loop waits for ever for a message that was never sent.
	go func() {
		for {
			if _, _, err := sender.ReadMessage(); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if err := sender.WriteMessage(websocket.TextMessage, frame); err != nil {
			b.Fatal(err)
		}
		waitFor(b, recv, "msg-recieve")
	}
}
