package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// Event is one server frame that is not an answer to a request.
type Event struct {
	Name string
	Data json.RawMessage
	ID   string
}

// Conn is an authenticated WebSocket. Server events arrive on Events();
// answers to Request are matched by id. Events() is buffered (4096); when
// the consumer falls behind, the reader blocks (and the server eventually
// cuts the socket as a slow consumer, which is the realistic outcome).
type Conn struct {
	ws        *websocket.Conn
	ready     User
	events    chan Event
	writeMu   sync.Mutex
	pendingMu sync.Mutex
	pending   map[string]chan frame
	nextID    atomic.Int64
	closeCode atomic.Int64
	done      chan struct{}
}

type frame struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data,omitempty"`
	ID    json.RawMessage `json:"id,omitempty"`
}

// Connect opens /ws, authenticates with since positions and waits for ready.
func (c *Client) Connect(ctx context.Context, since map[string]int64) (*Conn, error) {
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return nil, err
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = "/ws"
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, u.String(), nil)
	if err != nil {
		return nil, err
	}
	auth := map[string]any{"token": c.Token}
	if since != nil {
		auth["since"] = since
	}
	if err := ws.WriteJSON(map[string]any{"event": "auth", "data": auth}); err != nil {
		ws.Close()
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	var f frame
	if err := ws.ReadJSON(&f); err != nil {
		ws.Close()
		return nil, fmt.Errorf("waiting for ready: %w", err)
	}
	if f.Event != "ready" {
		ws.Close()
		return nil, frameError(f)
	}
	_ = ws.SetReadDeadline(time.Time{})
	conn := &Conn{ws: ws, events: make(chan Event, 4096), pending: map[string]chan frame{}, done: make(chan struct{})}
	_ = json.Unmarshal(f.Data, &conn.ready)
	go conn.readLoop()
	return conn, nil
}

// Ready is the user the server authenticated.
func (c *Conn) Ready() User { return c.ready }

// Events delivers server events; it is closed when the socket ends.
func (c *Conn) Events() <-chan Event { return c.events }

// CloseCode is the server's close code once the socket ended (0 before).
func (c *Conn) CloseCode() int { return int(c.closeCode.Load()) }

// Close closes the socket.
func (c *Conn) Close() error {
	c.writeMu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.writeMu.Unlock()
	return c.ws.Close()
}

func (c *Conn) readLoop() {
	defer close(c.events)
	defer close(c.done)
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode.Store(int64(ce.Code))
			} else {
				c.closeCode.Store(websocket.CloseAbnormalClosure)
			}
			return
		}
		var f frame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		id := idString(f.ID)
		if id != "" && (f.Event == "ack" || f.Event == "error" || f.Event == "pong") {
			c.pendingMu.Lock()
			ch := c.pending[id]
			delete(c.pending, id)
			c.pendingMu.Unlock()
			if ch != nil {
				ch <- f
				continue
			}
		}
		c.events <- Event{Name: f.Event, Data: f.Data, ID: id}
	}
}

func idString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Send writes a frame without waiting for an answer.
func (c *Conn) Send(_ context.Context, event string, data any) error {
	return c.write(map[string]any{"event": event, "data": data})
}

func (c *Conn) write(v any) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteJSON(v)
}

// Request sends a frame with a fresh id and waits for its ack (or error,
// returned as *APIError).
func (c *Conn) Request(ctx context.Context, event string, data any) (json.RawMessage, error) {
	id := strconv.FormatInt(c.nextID.Add(1), 10)
	ch := make(chan frame, 1)
	c.pendingMu.Lock()
	c.pending[id] = ch
	c.pendingMu.Unlock()
	defer func() {
		c.pendingMu.Lock()
		delete(c.pending, id)
		c.pendingMu.Unlock()
	}()
	if err := c.write(map[string]any{"event": event, "data": data, "id": id}); err != nil {
		return nil, err
	}
	select {
	case f := <-ch:
		if f.Event == "error" {
			return nil, frameError(f)
		}
		return f.Data, nil
	case <-c.done:
		return nil, fmt.Errorf("socket closed (code %d)", c.CloseCode())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SendMsg sends a text message and waits for the durable ack.
func (c *Conn) SendMsg(ctx context.Context, to, text, txnID string) (*Message, error) {
	data := map[string]any{"to": to, "msg": text}
	if txnID != "" {
		data["txn_id"] = txnID
	}
	raw, err := c.Request(ctx, "send-msg", data)
	if err != nil {
		return nil, err
	}
	var m Message
	return &m, json.Unmarshal(raw, &m)
}

func frameError(f frame) error {
	var d struct {
		Errcode string `json:"errcode"`
		Msg     string `json:"msg"`
		Status  int    `json:"status"`
	}
	_ = json.Unmarshal(f.Data, &d)
	if d.Status == 0 {
		d.Status = 400
	}
	return &APIError{Status: d.Status, Errcode: d.Errcode, Msg: d.Msg}
}
