// Package gateway runs Crypt-Talk's WebSocket sessions: the auth handshake,
// `since` replay, client commands and live fan-out from the bus. It knows
// nothing of Fiber or of the socket library: the server hands it a
// Transport, so the session logic is unit-tested with a fake.
package gateway

import "time"

// Close codes the server uses. Clients reconnect (with `since`) on every
// code except CloseUnauthorized, which needs a new login.
const (
	CloseNormal       = 1000 // the client asked
	CloseGoingAway    = 1001 // node shutting down: reconnect, possibly to another node
	CloseTooBig       = 1009 // a frame over the limit (sent by the socket library)
	CloseInternal     = 1011 // server error: reconnect with backoff
	CloseSlowConsumer = 4000 // the send queue overflowed: reconnect with since
	CloseUnauthorized = 4001 // bad, expired or revoked token: log in again
	CloseAuthTimeout  = 4002 // no auth frame in time: reconnect and authenticate at once
)

// Transport is one client socket as the session sees it. ReadFrame and
// the write methods are each called from one goroutine only.
type Transport interface {
	// ReadFrame blocks for the next text frame.
	ReadFrame() ([]byte, error)
	// SetReadDeadline bounds the next reads (auth timeout, heartbeat).
	SetReadDeadline(t time.Time) error
	// WriteFrame writes one text frame.
	WriteFrame(b []byte) error
	// WritePing sends a WebSocket ping; the transport resets the read
	// deadline when the pong arrives via the OnPong hook it was given.
	WritePing() error
	// Close sends a close frame with code and reason and closes the socket.
	Close(code int, reason string) error
}

// FramesWriter is an optional Transport ability: write several text frames
// with one write to the socket. The writer uses it for whatever queued up
// while it was busy, so a loaded socket costs one syscall per flush (and
// its client one wake-up) instead of one per frame.
type FramesWriter interface {
	WriteFrames(frames [][]byte) error
}
