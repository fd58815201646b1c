package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

func TestConnectSendsAuthAndReadsReady(t *testing.T) {
	auths := make(chan frame, 2)
	c := fakeWS(t, func(p *peer) {
		f := p.read()
		auths <- f
		// The contract's ready: the user's fields, and again under "user".
		p.send("ready", map[string]any{"_id": "u1", "user_id": "@alice:test", "username": "alice", "user": alice}, "")
		p.drain()
	})
	conn, err := c.Connect(testCtx(t), map[string]int64{"!conv": 7})
	if err != nil {
		t.Fatal(err)
	}
	if conn.Ready() != alice {
		t.Fatalf("ready %+v", conn.Ready())
	}
	f := <-auths
	var a struct {
		Token string           `json:"token"`
		Since map[string]int64 `json:"since"`
	}
	if f.Event != "auth" || json.Unmarshal(f.Data, &a) != nil || a.Token != "tok" || a.Since["!conv"] != 7 || f.ID != nil {
		t.Fatalf("auth frame %s %s", f.Event, f.Data)
	}
	if err := conn.Close(); err != nil || conn.CloseCode() != CloseNormal {
		t.Fatalf("close: %v code %d", err, conn.CloseCode())
	}
	if err := conn.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := conn.Send(testCtx(t), "typing", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if _, err := conn.Request(testCtx(t), "ping", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("request after close: %v", err)
	}

	// Without since the auth frame carries none, and ready may carry only
	// the nested user.
	c2 := fakeWS(t, func(p *peer) {
		auths <- p.read()
		p.send("ready", map[string]any{"user": alice}, "")
		p.drain()
	})
	conn2 := connect(t, c2)
	if f := <-auths; strings.Contains(string(f.Data), "since") || conn2.Ready().UserID != alice.UserID {
		t.Fatalf("auth %s, ready %+v", f.Data, conn2.Ready())
	}
}

func TestConnectRefused(t *testing.T) {
	t.Run("error frame then 4001", func(t *testing.T) {
		c := fakeWS(t, func(p *peer) {
			p.read()
			p.send("error", map[string]any{"errcode": "CT_UNAUTHORIZED", "msg": "bad token", "status": 401}, "")
			p.closeWith(CloseUnauthorized, "authentication failed")
		})
		_, err := c.Connect(testCtx(t), nil)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Errcode != "CT_UNAUTHORIZED" || ae.Status != 401 {
			t.Fatalf("want CT_UNAUTHORIZED, got %v", err)
		}
	})
	t.Run("closed without a word", func(t *testing.T) {
		c := fakeWS(t, func(p *peer) { p.closeWith(CloseAuthTimeout, "too slow") })
		_, err := c.Connect(testCtx(t), nil)
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != CloseAuthTimeout || !errors.Is(err, ErrClosed) {
			t.Fatalf("want close 4002, got %v", err)
		}
	})
	t.Run("garbage instead of ready", func(t *testing.T) {
		c := fakeWS(t, func(p *peer) {
			p.read()
			_ = p.ws.WriteMessage(websocket.TextMessage, []byte("<html>"))
			p.drain()
		})
		if _, err := c.Connect(testCtx(t), nil); err == nil || !strings.Contains(err.Error(), "non-JSON") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no ready before the deadline", func(t *testing.T) {
		c := fakeWS(t, func(p *peer) { p.drain() })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := c.Connect(ctx, nil); err == nil {
			t.Fatal("connect without ready succeeded")
		}
	})
	t.Run("not a websocket endpoint", func(t *testing.T) {
		c, _ := fakeREST(t, 404, `{"errcode":"CT_NOT_FOUND"}`, nil)
		if _, err := c.Connect(testCtx(t), nil); err == nil {
			t.Fatal("connected to a plain HTTP route")
		}
	})
	t.Run("bad base URL", func(t *testing.T) {
		for _, base := range []string{"ftp://x", "::", ""} {
			if _, err := New(base).Connect(testCtx(t), nil); err == nil {
				t.Fatalf("%q accepted", base)
			}
		}
	})
}

func TestWSURL(t *testing.T) {
	cases := map[string]string{
		"http://127.0.0.1:5000":     "ws://127.0.0.1:5000/ws",
		"https://chat.example.org/": "wss://chat.example.org/ws",
		"http://host/prefix/":       "ws://host/prefix/ws",
		"ws://host:1":               "ws://host:1/ws",
	}
	for in, want := range cases {
		if got, err := wsURL(in); err != nil || got != want {
			t.Errorf("wsURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// echoAcks answers every request frame with an ack whose data is the
// request's data, after handshake; it stops when the client closes.
func echoAcks(p *peer) {
	p.handshake()
	for {
		_, b, err := p.ws.ReadMessage()
		if err != nil {
			return
		}
		var f frame
		_ = json.Unmarshal(b, &f)
		var id string
		_ = json.Unmarshal(f.ID, &id)
		p.send("ack", f.Data, id)
	}
}

func TestConcurrentRequestsGetTheirOwnAnswers(t *testing.T) {
	conn := connect(t, fakeWS(t, echoAcks))
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := conn.Request(testCtx(t), "echo", map[string]int{"n": i})
			var got struct{ N int }
			if err == nil {
				err = json.Unmarshal(raw, &got)
			}
			if err == nil && got.N != i {
				err = fmt.Errorf("request %d got answer %d", i, got.N)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAnswersOutOfOrderAndStrays(t *testing.T) {
	c := fakeWS(t, func(p *peer) {
		p.handshake()
		first, second := p.read(), p.read()
		var id1, id2 string
		_ = json.Unmarshal(first.ID, &id1)
		_ = json.Unmarshal(second.ID, &id2)
		p.send("ack", "stray", "nobody-asked")               // dropped
		p.send("pong", nil, "nobody-asked-either")           // dropped
		p.send("typing", map[string]any{"from": "@b:t"}, "") // an event
		p.send("error", map[string]any{"errcode": "CT_NOT_FOUND", "msg": "no", "status": 404}, id2)
		p.send("ack", map[string]int{"seq": 1}, id1)
		p.send("error", map[string]any{"errcode": "CT_BAD_JSON", "msg": "?"}, "") // an event
		p.send("msg-recieve", map[string]any{"seq": 2}, "srv-1")                  // an event with an id
		p.drain()
	})
	conn := connect(t, c)
	type result struct {
		raw json.RawMessage
		err error
	}
	r1, r2 := make(chan result, 1), make(chan result, 1)
	sent := make(chan struct{})
	go func() {
		raw, err := conn.Request(testCtx(t), "read", nil)
		r1 <- result{raw, err}
	}()
	go func() {
		// Order the two requests on the wire: the first one's frame must
		// be written before this one's.
		<-sent
		raw, err := conn.Request(testCtx(t), "send-msg", nil)
		r2 <- result{raw, err}
	}()
	waitPending(t, conn, 1)
	close(sent)
	got1, got2 := <-r1, <-r2
	if got1.err != nil || string(got1.raw) != `{"seq":1}` {
		t.Fatalf("first: %s %v", got1.raw, got1.err)
	}
	var ae *APIError
	if !errors.As(got2.err, &ae) || ae.Errcode != "CT_NOT_FOUND" || ae.Status != 404 {
		t.Fatalf("second: %v", got2.err)
	}
	for _, want := range []string{"typing", "error", "msg-recieve"} {
		if ev := nextEvent(t, conn); ev.Name != want {
			t.Fatalf("event %q (%s), want %q", ev.Name, ev.Data, want)
		} else if want == "msg-recieve" && ev.ID != "srv-1" {
			t.Fatalf("event id %q", ev.ID)
		}
	}
}

// waitPending polls until n requests wait for answers.
func waitPending(t *testing.T, conn *Conn, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn.pendingMu.Lock()
		got := len(conn.pending)
		conn.pendingMu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests pending, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}
