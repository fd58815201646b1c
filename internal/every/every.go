// Package every runs periodic background work.
package every

import (
	"context"
	"time"
)

// Tick calls fn every d until ctx ends; the first call is after d. A slow
// fn delays the next call rather than piling calls up.
func Tick(ctx context.Context, d time.Duration, fn func(ctx context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
