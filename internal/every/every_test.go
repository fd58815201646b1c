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

// A panicking pass is reported and the next tick still runs.
func TestTickSurvivesAPanic(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls, reported atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		Tick(ctx, time.Millisecond, func(context.Context) {
			if calls.Add(1) == 1 {
				panic("first pass fails")
			}
			cancel()
		}, OnPanic(func(v any, stack []byte) {
			if v == "first pass fails" && len(stack) > 0 {
				reported.Add(1)
			}
		}))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Tick stopped ticking after a panic")
	}
	if reported.Load() != 1 || calls.Load() < 2 {
		t.Fatalf("reported %d panics, %d calls", reported.Load(), calls.Load())
	}
}
