// Package every runs periodic background work.
package every

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Option adjusts Tick.
type Option func(*options)

type options struct {
	onPanic func(v any, stack []byte)
}

// OnPanic replaces the default panic report (an error on slog.Default
// with the stack) of Tick.
func OnPanic(f func(v any, stack []byte)) Option {
	return func(o *options) { o.onPanic = f }
}

// Tick calls fn every d until ctx ends; the first call is after d. A slow
// fn delays the next call rather than piling calls up. A panic in fn is
// recovered and reported, and the next tick runs as usual: one bad pass of
// a background job must not take the node down.
func Tick(ctx context.Context, d time.Duration, fn func(ctx context.Context), opts ...Option) {
	o := options{onPanic: func(v any, stack []byte) {
		slog.Error("panic recovered in periodic work; it runs again next tick", "panic", fmt.Sprint(v), "stack", string(stack))
	}}
	for _, opt := range opts {
		opt(&o)
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			call(ctx, fn, o.onPanic)
		}
	}
}

func call(ctx context.Context, fn func(context.Context), onPanic func(any, []byte)) {
	defer func() {
		if v := recover(); v != nil {
			onPanic(v, debug.Stack())
		}
	}()
	fn(ctx)
}
