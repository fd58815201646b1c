package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// Conn is an authenticated WebSocket. It may be used from several goroutines
// at once.
//
// One reader goroutine reads every server frame. Frames answering a Request
// (ack, pong, or error carrying a Request's id) go to that Request; answers
// nobody waits for any more (the Request gave up) are dropped; every other
// frame goes to Events, in the order the server sent it.
//
// Slow consumers: Events is buffered (Client.EventBuffer). When it is full
// the reader blocks until the consumer takes an event, so no event is ever
// dropped, but nothing else is read meanwhile either: Requests wait for their
// answers, and a server whose send queue overflows closes the socket with
// CloseSlowConsumer, as it would for a slow real client. Close unblocks it;
// events not yet taken by then are dropped.
type Conn struct {
	ws    *websocket.Conn
	ready User

	events    chan Event
	done      chan struct{} // closed when the reader has ended
	closing   chan struct{} // closed by Close, to unblock the reader
	closeOnce sync.Once
	ended     atomic.Pointer[CloseError]

	writeMu   sync.Mutex
	pendingMu sync.Mutex
	pending   map[string]chan frame
	nextID    atomic.Uint64
}

// Ready returns the user the server authenticated (ready's data).
func (c *Conn) Ready() User { return c.ready }

// Events delivers server events. It is closed after the socket has ended,
// once CloseCode is set.
func (c *Conn) Events() <-chan Event { return c.events }

// Done is closed when the socket has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// CloseCode returns the code of the close frame that ended the socket (after
// Close, normally the server's echo, CloseNormal), CloseAbnormal if it ended
// without one, and 0 while it is open.
func (c *Conn) CloseCode() int {
	if e := c.ended.Load(); e != nil {
		return e.Code
	}
	return 0
}

// Close sends a normal close frame, waits briefly for the server's echo and
// closes the connection. It is safe to call more than once.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.writeMu.Lock()
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeGrace))
		c.writeMu.Unlock()
		select {
		case <-c.done:
		case <-time.After(closeGrace):
		}
		_ = c.ws.Close()
	})
	<-c.done
	return nil
}

func (c *Conn) readLoop() {
	defer close(c.events)
	defer close(c.done)
	// Once Close is called no event is delivered any more: the select
	// below picks at random between a free buffer slot and closing, so
	// without this one frame could be dropped and the next delivered, and
	// a client resuming from the highest seq it saw would skip the first.
	dropping := false
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.end(err)
			return
		}
		var f frame
		if json.Unmarshal(b, &f) != nil {
			// Not in the contract; surface it rather than hide it.
			f = frame{Data: json.RawMessage(strconv.Quote(string(b)))}
		}
		id := idString(f.ID)
		if id != "" && (f.Event == "ack" || f.Event == "pong" || f.Event == "error") {
			c.answer(id, f)
			continue
		}
		if dropping {
			continue
		}
		select {
		case <-c.closing:
			dropping = true
			continue
		default:
		}
		select {
		case c.events <- Event{Name: f.Event, Data: f.Data, ID: id}:
		case <-c.closing:
			dropping = true
		}
	}
}

// end records why the socket ended.
func (c *Conn) end(err error) {
	ce := &CloseError{Code: CloseAbnormal, Text: err.Error()}
	if e, ok := closeErrorOf(err).(*CloseError); ok {
		ce = e
	}
	c.ended.Store(ce)
}

// endErr is the error of an ended socket.
func (c *Conn) endErr() error {
	if e := c.ended.Load(); e != nil {
		return e
	}
	return ErrClosed
}

// answer hands an answer frame to the Request waiting for id, if any.
func (c *Conn) answer(id string, f frame) {
	c.pendingMu.Lock()
	ch := c.pending[id]
	delete(c.pending, id)
	c.pendingMu.Unlock()
	if ch != nil {
		ch <- f // buffered: never blocks
	}
}

// idString reads a frame id, which the contract allows as any JSON value.
func idString(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Send writes a frame without an id: the server answers only errors, which
// arrive on Events.
func (c *Conn) Send(ctx context.Context, event string, data any) error {
	return c.write(ctx, outFrame{Event: event, Data: data})
}

func (c *Conn) write(ctx context.Context, f outFrame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode %s frame: %w", f.Event, err)
	}
	deadline := time.Now().Add(writeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	select {
	case <-c.done:
		return c.endErr()
	default:
	}
	_ = c.ws.SetWriteDeadline(deadline)
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("write %s frame: %w", f.Event, err)
	}
	return nil
}

// Request sends a frame with a fresh id and waits for the answer with that
// id: the ack's (or pong's) data, or the error frame as *APIError. If the
// socket ends first the error is a *CloseError.
func (c *Conn) Request(ctx context.Context, event string, data any) (json.RawMessage, error) {
	id := "c" + strconv.FormatUint(c.nextID.Add(1), 10)
	ch := make(chan frame, 1)
	c.pendingMu.Lock()
	c.pending[id] = ch
	c.pendingMu.Unlock()
	defer func() {
		c.pendingMu.Lock()
		delete(c.pending, id)
		c.pendingMu.Unlock()
	}()
	if err := c.write(ctx, outFrame{Event: event, Data: data, ID: id}); err != nil {
		return nil, err
	}
	select {
	case f := <-ch:
		return answerData(f)
	case <-c.done:
		// The answer may have arrived just before the end.
		select {
		case f := <-ch:
			return answerData(f)
		default:
			return nil, c.endErr()
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func answerData(f frame) (json.RawMessage, error) {
	if f.Event == "error" {
		return nil, frameError(f.Data)
	}
	return f.Data, nil
}

// SendMsg sends a text message over the socket and returns the stored
// message once the server has acknowledged it (stored durably). A non-empty
// txnID makes a retry safe.
func (c *Conn) SendMsg(ctx context.Context, to, text, txnID string) (*Message, error) {
	data := struct {
		To    string `json:"to"`
		Msg   string `json:"msg"`
		TxnID string `json:"txn_id,omitempty"`
	}{to, text, txnID}
	raw, err := c.Request(ctx, "send-msg", data)
	if err != nil {
		return nil, err
	}
	var m Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode send-msg ack: %w", err)
	}
	return &m, nil
}
