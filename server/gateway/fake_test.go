package gateway

import (
	"encoding/json"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTransport is an in-memory socket: the test writes client frames into
// in and reads what the session wrote from out.
type fakeTransport struct {
	in       chan []byte
	out      chan []byte
	mu       sync.Mutex
	closed   bool
	code     int
	deadline time.Time
	done     chan struct{}
	// blockWrites makes WriteFrame hang until closed (a slow client).
	blockWrites atomic.Bool
	pings       atomic.Int32
	// panicWrites and panicReads make the next write or read panic.
	panicWrites atomic.Bool
	panicReads  atomic.Bool
	// closeGate, when set, holds Close until it is closed (a close frame
	// stuck on a dead network).
	closeGate chan struct{}
}

func newFakeTransport() *fakeTransport {
	return &fakeTransport{in: make(chan []byte, 64), out: make(chan []byte, 4096), done: make(chan struct{})}
}

func (f *fakeTransport) ReadFrame() ([]byte, error) {
	f.mu.Lock()
	d := f.deadline
	f.mu.Unlock()
	var timeout <-chan time.Time
	if !d.IsZero() {
		timer := time.NewTimer(time.Until(d))
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case b := <-f.in:
		if f.panicReads.Load() {
			panic("test panic in a command")
		}
		return b, nil
	case <-f.done:
		return nil, errors.New("closed")
	case <-timeout:
		return nil, os.ErrDeadlineExceeded
	}
}

func (f *fakeTransport) SetReadDeadline(t time.Time) error {
	f.mu.Lock()
	f.deadline = t
	f.mu.Unlock()
	return nil
}

func (f *fakeTransport) WriteFrame(b []byte) error {
	if f.panicWrites.Load() {
		panic("test panic in the writer")
	}
	if f.blockWrites.Load() {
		<-f.done
		return errors.New("closed")
	}
	select {
	case f.out <- b:
		return nil
	case <-f.done:
		return errors.New("closed")
	}
}

func (f *fakeTransport) WritePing() error { f.pings.Add(1); return nil }

func (f *fakeTransport) Close(code int, _ string) error {
	if f.closeGate != nil {
		<-f.closeGate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed, f.code = true, code
		close(f.done)
	}
	return nil
}

func (f *fakeTransport) closeCode() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.code, f.closed
}

func (f *fakeTransport) send(t *testing.T, event string, data any, id string) {
	t.Helper()
	fr := map[string]any{"event": event, "data": data}
	if id != "" {
		fr["id"] = id
	}
	b, _ := json.Marshal(fr)
	f.in <- b
}

type gotFrame struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	ID    json.RawMessage `json:"id"`
}

// next waits for the next frame the session wrote, skipping presence and
// receipt noise when skip is true.
func (f *fakeTransport) next(t *testing.T, skip ...string) gotFrame {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case b := <-f.out:
			var g gotFrame
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatalf("session wrote non-JSON %q", b)
			}
			if contains(skip, g.Event) {
				continue
			}
			return g
		case <-timeout:
			t.Fatal("no frame within 10s")
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
