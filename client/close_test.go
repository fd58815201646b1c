package client

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"testing"
)

func TestServerCloseFailsPendingRequest(t *testing.T) {
	c := fakeWS(t, func(p *peer) {
		p.handshake()
		p.read() // the request, never answered
		p.send("msg-recieve", map[string]int{"seq": 1}, "")
		p.closeWith(CloseSlowConsumer, "too slow")
	})
	conn := connect(t, c)
	_, err := conn.Request(testCtx(t), "send-msg", map[string]string{"to": "@b:t", "msg": "x"})
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != CloseSlowConsumer || ce.Text != "too slow" || !errors.Is(err, ErrClosed) {
		t.Fatalf("want close 4000, got %v", err)
	}
	// The event sent before the close is still delivered, then Events ends.
	evs := waitEnd(t, conn)
	if len(evs) != 1 || evs[0].Name != "msg-recieve" || conn.CloseCode() != CloseSlowConsumer {
		t.Fatalf("events %v, code %d", evs, conn.CloseCode())
	}
	select {
	case <-conn.Done():
	default:
		t.Fatal("Done not closed after the end")
	}
}

func TestDroppedWithoutCloseFrame(t *testing.T) {
	c := fakeWS(t, func(p *peer) {
		p.handshake()
		// Cut the TCP connection: no close frame.
		if tc, ok := p.ws.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = p.ws.NetConn().Close()
	})
	conn := connect(t, c)
	if evs := waitEnd(t, conn); len(evs) != 0 || conn.CloseCode() != CloseAbnormal {
		t.Fatalf("events %v, code %d", evs, conn.CloseCode())
	}
}

func TestRequestContextEndsAndLateAnswerIsDropped(t *testing.T) {
	gaveUp := make(chan struct{})
	c := fakeWS(t, func(p *peer) {
		p.handshake()
		f := p.read()
		var id string
		_ = json.Unmarshal(f.ID, &id)
		<-gaveUp
		p.send("ack", map[string]int{"late": 1}, id)
		p.send("typing", map[string]bool{"typing": true}, "")
		p.drain()
	})
	conn := connect(t, c)
	ctx, cancel := context.WithCancel(testCtx(t))
	go func() {
		waitPending(t, conn, 1)
		cancel()
	}()
	if _, err := conn.Request(ctx, "ping", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	close(gaveUp)
	if ev := nextEvent(t, conn); ev.Name != "typing" {
		t.Fatalf("late ack leaked into events: %q %s", ev.Name, ev.Data)
	}
}

func TestSlowConsumer(t *testing.T) {
	const n = 20
	c := fakeWS(t, func(p *peer) {
		p.handshake()
		for i := range n {
			p.send("msg-recieve", map[string]int{"seq": i}, "")
		}
		p.drain()
	})
	c.EventBuffer = 2
	conn := connect(t, c)
	// The reader blocks on the full buffer; no event is lost and the order
	// holds.
	for i := range n {
		ev := nextEvent(t, conn)
		var d struct{ Seq int }
		if err := json.Unmarshal(ev.Data, &d); err != nil || d.Seq != i {
			t.Fatalf("event %d: %s", i, ev.Data)
		}
	}

	// A consumer that stops reading does not stop Close.
	c2 := fakeWS(t, func(p *peer) {
		p.handshake()
		for i := range n {
			p.send("msg-recieve", map[string]int{"seq": i}, "")
		}
		p.drain()
	})
	c2.EventBuffer = 1
	conn2 := connect(t, c2)
	_ = nextEvent(t, conn2) // the reader is now blocked or about to be
	if err := conn2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNonJSONFrameIsAnEvent(t *testing.T) {
	c := fakeWS(t, func(p *peer) {
		p.handshake()
		_ = p.ws.WriteMessage(1, []byte("not json"))
		p.drain()
	})
	conn := connect(t, c)
	ev := nextEvent(t, conn)
	var s string
	if ev.Name != "" || json.Unmarshal(ev.Data, &s) != nil || s != "not json" {
		t.Fatalf("event %q %s", ev.Name, ev.Data)
	}
}

func TestSendMsg(t *testing.T) {
	frames := make(chan frame, 2)
	c := fakeWS(t, func(p *peer) {
		p.handshake()
		for _, ack := range []any{
			map[string]any{"_id": "m1", "seq": 4, "conversation_id": "!c", "from": "@alice:test", "to": "@b:t", "fromSelf": true, "type": "text", "message": "hi", "createdAt": "2030-01-01T00:00:00Z"},
			"not a message",
		} {
			f := p.read()
			frames <- f
			var id string
			_ = json.Unmarshal(f.ID, &id)
			p.send("ack", ack, id)
		}
		p.drain()
	})
	conn := connect(t, c)
	m, err := conn.SendMsg(testCtx(t), "@b:t", "hi", "t1")
	if err != nil || m.Seq != 4 || m.ConversationID != "!c" || !m.FromSelf {
		t.Fatalf("message %+v, %v", m, err)
	}
	if f := <-frames; f.Event != "send-msg" || string(f.Data) != `{"to":"@b:t","msg":"hi","txn_id":"t1"}` || len(f.ID) == 0 {
		t.Fatalf("frame %s %s %s", f.Event, f.Data, f.ID)
	}
	if _, err := conn.SendMsg(testCtx(t), "@b:t", "hi", ""); err == nil {
		t.Fatal("a malformed ack decoded")
	}
	if f := <-frames; string(f.Data) != `{"to":"@b:t","msg":"hi"}` {
		t.Fatalf("frame without txn_id %s", f.Data)
	}
	if err := conn.Send(testCtx(t), "bad", make(chan int)); err == nil {
		t.Fatal("unencodable data sent")
	}
}

// After Close no event is delivered past one that was dropped: the events
// a caller gets are a prefix of what the server sent, so resuming from the
// highest seq seen skips nothing. (The reader used to pick at random
// between a free buffer slot and the close, frame by frame, and ctbench's
// reconnect scenario lost a message to it.)
func TestEventsAfterCloseAreAPrefix(t *testing.T) {
	const n = 3000
	c := fakeWS(t, func(p *peer) {
		p.handshake()
		for i := 1; i <= n; i++ {
			p.send("msg-recieve", map[string]int{"seq": i}, "")
		}
		p.drain()
	})
	for range 20 {
		conn := connect(t, c)
		var got []int
		for ev := range conn.Events() {
			var m struct{ Seq int }
			_ = json.Unmarshal(ev.Data, &m)
			got = append(got, m.Seq)
			if len(got) == 5 {
				go conn.Close()
			}
		}
		for i, seq := range got {
			if seq != i+1 {
				t.Fatalf("event %d is seq %d: an earlier one was dropped and a later one delivered", i, seq)
			}
		}
	}
}
