package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
)

const wsWriteTimeout = 10 * time.Second

// writeBuffers lets idle sockets share write buffers instead of holding
// 4 KiB each.
var writeBuffers = &sync.Pool{}

// wsUpgrade admits only WebSocket upgrades from allowed origins.
func (s *Server) wsUpgrade(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return &chat.Error{Status: fiber.StatusUpgradeRequired, Code: "CT_UPGRADE_REQUIRED", Msg: "this endpoint speaks WebSocket only"}
	}
	if !s.originAllowed(c) {
		return chat.Forbidden("this origin may not open a WebSocket here")
	}
	if s.draining.Load() {
		return &chat.Error{Status: fiber.StatusServiceUnavailable, Code: chat.CodeUnavailable, RetryAfter: time.Second,
			Msg: "this server is shutting down, connect again"}
	}
	// Refused before the upgrade while the address holds its share of
	// unauthenticated sockets; the gateway enforces the cap exactly.
	ip := s.clientIP(c)
	if s.gw.PendingFull(ip) {
		return &chat.Error{Status: fiber.StatusTooManyRequests, Code: chat.CodeRateLimited, RetryAfter: time.Second,
			Msg: "too many unauthenticated sockets from this address, authenticate the open ones first"}
	}
	c.Locals(wsClientIP, ip)
	return c.Next()
}

// wsClientIP is the Locals key of the client address, carried from the
// upgrade request into the socket.
const wsClientIP = "ct.ws.ip"

// wsHandler adapts a socket to the gateway. Compression stays off: no
// decompression bombs, and frames are small.
func (s *Server) wsHandler() fiber.Handler {
	ping := s.gw.PingInterval()
	return websocket.New(func(conn *websocket.Conn) {
		conn.SetReadLimit(s.opts.WSFrameBytes)
		conn.SetPongHandler(func(string) error {
			return conn.SetReadDeadline(time.Now().Add(2 * ping))
		})
		ip, _ := conn.Locals(wsClientIP).(string)
		s.gw.Serve(context.Background(), &wsTransport{conn: conn, ip: ip})
	}, websocket.Config{EnableCompression: false, ReadBufferSize: 1 << 10, WriteBufferSize: 4 << 10, WriteBufferPool: writeBuffers,
		RecoverHandler: s.wsRecover})
}

// wsRecover replaces the library's panic handler, which writes the panic
// value to the client: the panic and its stack go to the log and the
// metrics, the client gets 1011 and nothing else. The gateway recovers its
// own panics; this catches any in the adapter.
func (s *Server) wsRecover(conn *websocket.Conn) {
	v := recover()
	if v == nil {
		return
	}
	s.log.Error("panic recovered in the WebSocket handler", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	s.metrics.Panic("websocket")
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "internal error"), time.Now().Add(time.Second))
	_ = conn.Close()
}

// wsTransport is gateway.Transport over a fasthttp websocket.
type wsTransport struct {
	conn    *websocket.Conn
	ip      string
	closing atomic.Bool   // a close frame went out: later frames are dropped
	wmu     chan struct{} // held by WriteFrames and the close frame; made once
	wmuOnce sync.Once
}

// RemoteIP is the client's address for the gateway's per-address cap.
func (t *wsTransport) RemoteIP() string { return t.ip }

func (t *wsTransport) ReadFrame() ([]byte, error) {
	_, b, err := t.conn.ReadMessage()
	return b, err
}

func (t *wsTransport) SetReadDeadline(d time.Time) error { return t.conn.SetReadDeadline(d) }

func (t *wsTransport) WriteFrame(b []byte) error {
	if t.closing.Load() {
		return nil
	}
	_ = t.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	return t.conn.WriteMessage(websocket.TextMessage, b)
}

func (t *wsTransport) WritePing() error {
	if t.closing.Load() {
		return nil
	}
	return t.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout))
}

// WriteFrames writes frames as unmasked, final text frames (what
// WriteMessage sends without compression) in one write to the socket. The
// library offers no batch write; one Write call is atomic on the socket
// against the library's own writes, and wmu keeps the close frame from
// going out between the check of closing and this write.
func (t *wsTransport) WriteFrames(frames [][]byte) error {
	if !t.lockWrites(wsWriteTimeout) {
		return errWriteBusy
	}
	defer t.unlockWrites()
	if t.closing.Load() {
		return nil
	}
	nc := t.conn.NetConn()
	_ = nc.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	bp := frameBufs.Get().(*[]byte)
	defer putFrameBuf(bp)
	buf := (*bp)[:0]
	for _, f := range frames {
		if len(buf) > 0 && len(buf)+len(f)+10 > maxCoalesced {
			if _, err := nc.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		buf = appendTextFrame(buf, f)
	}
	_, err := nc.Write(buf)
	*bp = buf
	return err
}

// maxCoalesced bounds one coalesced write; larger batches take several.
const maxCoalesced = 64 << 10

var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func putFrameBuf(bp *[]byte) {
	if cap(*bp) <= maxCoalesced+(16<<10) { // a huge frame's buffer is not kept
		frameBufs.Put(bp)
	}
}

// appendTextFrame appends a server-to-client text frame (RFC 6455 5.2:
// FIN, opcode 1, no mask) carrying p.
func appendTextFrame(b, p []byte) []byte {
	const finText = 0x81
	switch n := len(p); {
	case n < 126:
		b = append(b, finText, byte(n))
	case n <= 0xffff:
		b = append(b, finText, 126, byte(n>>8), byte(n))
	default:
		b = append(b, finText, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}

var errWriteBusy = errors.New("websocket: write lock not acquired in time")

// lockWrites orders WriteFrames against the close frame. It gives up after
// d, as the library's WriteControl does when a write holds the socket.
func (t *wsTransport) lockWrites(d time.Duration) bool {
	t.wmuOnce.Do(func() { t.wmu = make(chan struct{}, 1) })
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case t.wmu <- struct{}{}:
		return true
	case <-timer.C:
		return false
	}
}

func (t *wsTransport) unlockWrites() { <-t.wmu }

// Close may run concurrently with the writer: WriteControl and Close are
// safe to call alongside other methods.
func (t *wsTransport) Close(code int, reason string) error {
	t.closing.Store(true)
	if t.lockWrites(time.Second) { // a coalesced write in flight goes first
		defer t.unlockWrites()
	}
	_ = t.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	// On a hijacked fasthttp connection Close only marks it; the socket
	// closes when the handler returns. An expired read deadline is what
	// ends the reader now, so the session (and a shutdown waiting for it)
	// does not wait for the client to answer the close frame.
	_ = t.conn.SetReadDeadline(time.Now())
	return t.conn.Close()
}

// WriteClose sends the close frame and leaves the socket open, so the
// gateway can read until the client answers it before closing: closing
// with unread input (a flooder still sending) makes the kernel reset the
// connection, and the reset can destroy the close frame unread.
func (t *wsTransport) WriteClose(code int, reason string) error {
	t.closing.Store(true)
	if t.lockWrites(time.Second) {
		defer t.unlockWrites()
	}
	return t.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
}
