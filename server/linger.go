package server

import (
	"io"
	"net"
	"sync"
	"time"
)

// Lingering close, as nginx's lingering_close: a request refused before
// its body was read (413) is answered at once and its connection closed,
// but a socket closed with unread input sends a TCP reset, and the reset
// can destroy the answer in the client's buffers before the client reads
// it (curl, or any client that writes its whole body first, then sees no
// 413 at all). So a closed connection first sends FIN, then its input is
// read and thrown away for a short while, in the background, and only then
// is it closed.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 16 << 20 // more than a maximal upload
	lingerConns = 256      // beyond this many at once, close at once
)

// lingerListener hands out connections that linger when closed.
type lingerListener struct {
	net.Listener
	slots chan struct{}
}

func newLingerListener(ln net.Listener) net.Listener {
	return &lingerListener{Listener: ln, slots: make(chan struct{}, lingerConns)}
}

func (l *lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	return &lingerConn{TCPConn: tc, slots: l.slots}, nil
}

type lingerConn struct {
	*net.TCPConn
	slots chan struct{}
	once  sync.Once
}

// Close sends FIN and drains the input in the background; the caller never
// waits for the linger.
func (c *lingerConn) Close() error {
	var err error
	c.once.Do(func() {
		select {
		case c.slots <- struct{}{}:
		default:
			err = c.TCPConn.Close()
			return
		}
		if cerr := c.CloseWrite(); cerr != nil {
			<-c.slots
			err = c.TCPConn.Close()
			return
		}
		go func() {
			defer func() { <-c.slots }()
			_ = c.SetReadDeadline(time.Now().Add(lingerTime))
			_, _ = io.CopyN(io.Discard, c.TCPConn, lingerBytes)
			_ = c.TCPConn.Close()
		}()
	})
	return err
}
