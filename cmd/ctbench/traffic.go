package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// traffic runs chat (a fixed total rate over the pairs) or max (every
// sender keeps -window requests in flight): warm-up, the measured window,
// then a drain so that late messages are not counted as lost.
func (r *runner) traffic(ctx context.Context) (Report, error) {
	if err := r.connectEvery(ctx); err != nil {
		return Report{}, err
	}
	stop, halt := context.WithCancel(ctx)
	senders := r.startSenders(stop, ctx)
	elapsed := r.measure(ctx, r.cfg.warmup, r.cfg.duration)
	halt()
	senders.Wait()
	r.drain(ctx)
	return r.st.report(elapsed), ctx.Err()
}

// connectEvery opens every device and fails unless all of them opened.
func (r *runner) connectEvery(ctx context.Context) error {
	want := r.cfg.users * r.cfg.devices
	if opened := r.connectAll(ctx, false); opened < want {
		return fmt.Errorf("only %d of %d connections opened: %v", opened, want, r.st.report(0).Errors)
	}
	return nil
}

// startSenders sends until stop ends; requests use ctx, so the ones in
// flight at the stop still complete and count. With -rate 0 or in max,
// every member runs -window send loops; otherwise one pacer spreads -rate
// over the members in turn.
func (r *runner) startSenders(stop, ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	if r.cfg.scenario == "max" || r.cfg.rate == 0 {
		for _, m := range r.members {
			for range r.cfg.window {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for stop.Err() == nil {
						r.sendOne(ctx, m)
					}
				}()
			}
		}
		return &wg
	}
	slots := make([]chan struct{}, len(r.members))
	for i := range slots {
		slots[i] = make(chan struct{}, r.cfg.window)
	}
	next := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		pace(stop, r.cfg.rate, func() {
			i := next
			next = (next + 1) % len(r.members)
			select {
			case slots[i] <- struct{}{}:
			default:
				// -window requests of this sender are still in flight:
				// the server no longer keeps up with -rate.
				r.st.fail("send:behind", nil)
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots[i] }()
				r.sendOne(ctx, r.members[i])
			}()
		})
	}()
	return &wg
}

// paceTick is how often the pacer wakes; it fires every send that fell due
// since, so the rate holds even above 1,000/s.
const paceTick = time.Millisecond

// pace calls fire rate times per second until ctx ends.
func pace(ctx context.Context, rate int, fire func()) {
	start := time.Now()
	var fired int64
	tick := time.NewTicker(paceTick)
	defer tick.Stop()
	for {
		for n := due(time.Since(start), rate); fired < n; fired++ {
			fire()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// due is how many sends fall due within elapsed at rate per second.
func due(elapsed time.Duration, rate int) int64 {
	return int64(elapsed.Seconds() * float64(rate))
}
