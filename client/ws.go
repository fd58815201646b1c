package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/crypttalk/crypttalk/wire"
)

// DefaultEventBuffer is the capacity of Conn.Events when Client.EventBuffer is 0.
const DefaultEventBuffer = 1024

// Close codes the server sends (docs/API.md), plus CloseAbnormal, which no
// peer sends: it stands for a socket that ended without a close frame.
const (
	CloseNormal       = 1000 // the client asked
	CloseGoingAway    = 1001 // node shutting down: reconnect with since
	CloseAbnormal     = 1006 // the connection dropped without a close frame
	CloseTooBig       = 1009 // a frame over the server's limit
	CloseInternal     = 1011 // server error: reconnect with backoff
	CloseSlowConsumer = 4000 // the server's send queue overflowed: reconnect with since
	CloseUnauthorized = 4001 // bad, expired or revoked token: log in again
	CloseAuthTimeout  = 4002 // no auth frame in time
	CloseFrameBudget  = 4003 // the client sent frames faster than its budget: back off, then reconnect
	CloseTooMany      = 4004 // too many sockets for this user or address: close one first
)

const (
	// handshakeTimeout bounds the HTTP upgrade and the wait for ready when
	// ctx has no earlier deadline.
	handshakeTimeout = 15 * time.Second
	// writeTimeout bounds one frame write when ctx has no earlier deadline.
	writeTimeout = 10 * time.Second
	// closeGrace is how long Close waits for the server to echo its close frame.
	closeGrace = time.Second
	// readLimit bounds one server frame; the largest is a message of 16 KiB
	// text, escaped, well below it.
	readLimit = 4 << 20
)

// ErrClosed matches (errors.Is) every error that reports an ended socket.
var ErrClosed = errors.New("client: socket closed")

// CloseError reports that the socket ended, with the code of the server's
// close frame (CloseAbnormal when there was none). errors.Is(err, ErrClosed)
// holds for it.
type CloseError struct {
	Code int
	Text string
}

// Error reads like "socket closed: 4001 authentication failed".
func (e *CloseError) Error() string {
	return fmt.Sprintf("socket closed: %d %s", e.Code, e.Text)
}

// Is makes errors.Is(err, ErrClosed) true.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }

var dialer = &websocket.Dialer{
	HandshakeTimeout: handshakeTimeout,
	ReadBufferSize:   4096,
	WriteBufferSize:  4096,
}

// Event is one server frame that is not the answer to a Request. A frame
// that is not JSON (never sent by a correct server) arrives with Name ""
// and the raw frame as a JSON string in Data.
type Event struct {
	Name string
	Data json.RawMessage
	ID   string
}

// frame is the envelope of every frame, both ways.
type frame = wire.Frame

// outFrame is a frame the client writes.
type outFrame struct {
	Event string `json:"event"`
	Data  any    `json:"data,omitempty"`
	ID    string `json:"id,omitempty"`
}

// Connect dials ws(s)://<BaseURL>/ws, authenticates with the token and the
// since positions (conversation_id -> last seq seen; nil asks for no
// replay) and waits for ready. A refused token is returned as *APIError
// (the server's error frame); a socket closed before ready as *CloseError.
func (c *Client) Connect(ctx context.Context, since map[string]int64) (*Conn, error) {
	u, err := wsURL(c.BaseURL)
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	ws, _, err := dialer.DialContext(hctx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	ws.SetReadLimit(readLimit)
	ready, err := authenticate(hctx, ws, c.Token, since)
	if err != nil {
		_ = ws.Close()
		return nil, err
	}
	buf := c.EventBuffer
	if buf <= 0 {
		buf = DefaultEventBuffer
	}
	conn := &Conn{
		ws: ws, ready: ready,
		events:  make(chan Event, buf),
		pending: map[string]chan frame{},
		done:    make(chan struct{}),
		closing: make(chan struct{}),
	}
	go conn.readLoop()
	return conn, nil
}

// wsURL turns http(s)://host/prefix into ws(s)://host/prefix/ws.
func wsURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("base URL: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("base URL %q: scheme must be http or https", base)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/ws"
	return u.String(), nil
}

// authenticate sends the auth frame and reads until ready, an error frame
// or the end of the socket.
func authenticate(ctx context.Context, ws *websocket.Conn, token string, since map[string]int64) (User, error) {
	auth := struct {
		Token string           `json:"token"`
		Since map[string]int64 `json:"since,omitempty"`
	}{token, since}
	deadline, _ := ctx.Deadline()
	_ = ws.SetWriteDeadline(deadline)
	if err := ws.WriteJSON(outFrame{Event: "auth", Data: auth}); err != nil {
		return User{}, fmt.Errorf("send auth: %w", err)
	}
	_ = ws.SetReadDeadline(deadline)
	defer func() { _ = ws.SetReadDeadline(time.Time{}) }()
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return User{}, fmt.Errorf("waiting for ready: %w", closeErrorOf(err))
		}
		var f frame
		if json.Unmarshal(b, &f) != nil {
			return User{}, fmt.Errorf("waiting for ready: server sent a non-JSON frame %.80q", b)
		}
		switch f.Event {
		case "ready":
			return readyUser(f.Data)
		case "error":
			return User{}, frameError(f.Data)
		}
		// Anything else before ready is not in the contract; skip it so
		// a server that grows a new greeting still works.
	}
}

// readyUser reads ready's data: the user's fields, and the same object
// again under "user" (either is enough).
func readyUser(data json.RawMessage) (User, error) {
	var r struct {
		User
		Nested *User `json:"user"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return User{}, fmt.Errorf("decode ready: %w", err)
	}
	if r.User.UserID == "" && r.Nested != nil {
		return *r.Nested, nil
	}
	return r.User, nil
}

// closeErrorOf turns the socket library's close error into *CloseError and
// leaves other errors alone.
func closeErrorOf(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: ce.Code, Text: ce.Text}
	}
	return err
}

// frameError turns an error frame's data into *APIError.
func frameError(data json.RawMessage) error {
	var b errorBody
	if err := json.Unmarshal(data, &b); err != nil || b.Errcode == "" {
		return &APIError{Msg: fmt.Sprintf("malformed error frame %.200s", data)}
	}
	status, _ := strconv.Atoi(string(b.Status)) // absent or not a number: 0
	return &APIError{Status: status, Errcode: b.Errcode, Msg: b.Msg}
}
