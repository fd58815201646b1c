package every

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestTickStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	done := make(chan struct{})
	go func() {
		Tick(ctx, time.Millisecond, func(context.Context) {
			if n.Add(1) == 3 {
				cancel()
			}
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Tick did not return after cancel")
	}
	if n.Load() < 3 {
		t.Fatalf("called %d times", n.Load())
	}
}
