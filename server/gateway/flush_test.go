package gateway

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// batchTransport is a fakeTransport that can also write several frames at
// once; it records the size of every write.
type batchTransport struct {
	*fakeTransport
	mu     sync.Mutex
	writes []int    // frames per write; a ping is 0
	order  []string // frames and pings as written
	fail   bool
}

func (b *batchTransport) WriteFrame(p []byte) error { return b.WriteFrames([][]byte{p}) }

func (b *batchTransport) WriteFrames(frames [][]byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail {
		return errors.New("broken pipe")
	}
	b.writes = append(b.writes, len(frames))
	for _, f := range frames {
		b.order = append(b.order, string(f))
	}
	return nil
}

func (b *batchTransport) WritePing() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes = append(b.writes, 0)
	b.order = append(b.order, "ping")
	return nil
}

func flushSession(t Transport) *Session {
	s := &Session{t: t, out: newSendQueue(100), done: make(chan struct{}), closed: make(chan struct{})}
	s.writing.Store(true) // as kick leaves it for the writer
	return s
}

// What queued up while the writer was away goes out in order, one write
// per run of frames between heartbeats.
func TestFlushCoalescesQueuedFrames(t *testing.T) {
	t.Parallel()
	bt := &batchTransport{fakeTransport: newFakeTransport()}
	s := flushSession(bt)
	var want []string
	for i := range 7 {
		if i == 3 {
			s.out.push(nil)
			want = append(want, "ping")
			continue
		}
		f := fmt.Sprintf(`{"event":"e%d"}`, i)
		s.out.push([]byte(f))
		want = append(want, f)
	}
	s.flush()
	if fmt.Sprint(bt.order) != fmt.Sprint(want) {
		t.Fatalf("written %v, want %v", bt.order, want)
	}
	if fmt.Sprint(bt.writes) != "[3 0 3]" {
		t.Fatalf("writes %v, want [3 0 3] (frames, ping, frames)", bt.writes)
	}
	if s.isDone() || s.writing.Load() {
		t.Fatal("session ended or writer still marked after a clean flush")
	}
}

// A failed coalesced write closes the socket like a failed single write.
func TestFlushCoalescedWriteFailureKills(t *testing.T) {
	t.Parallel()
	bt := &batchTransport{fakeTransport: newFakeTransport(), fail: true}
	s := flushSession(bt)
	s.out.push([]byte(`{"event":"a"}`))
	s.out.push([]byte(`{"event":"b"}`))
	s.flush()
	if !s.isDone() {
		t.Fatal("session alive after a failed write")
	}
	<-s.closed
	if code, _ := bt.closeCode(); code != CloseInternal {
		t.Fatalf("closed with %d, want %d", code, CloseInternal)
	}
}
