package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/crypttalk/crypttalk/client"
)

// idle holds users x devices quiet connections for -duration and reports
// the server's resident memory per connection (when the tool can read the
// server's /proc entry). Sockets the server closes meanwhile are errors.
func (r *runner) idle(ctx context.Context) (Report, error) {
	before, _ := readProc(r.pid)
	opened := r.connectAll(ctx, false)
	elapsed := r.measure(ctx, 0, r.cfg.duration)
	rep := r.st.report(elapsed)
	if r.pid != 0 && opened > 0 {
		if after, err := readProc(r.pid); err == nil {
			rep.RSSPerConnBytes = max(after.rss-before.rss, 0) / int64(opened)
		}
	}
	if opened == 0 {
		return rep, fmt.Errorf("no connection opened: %v", rep.Errors)
	}
	return rep, ctx.Err()
}

// reconnect checks resumption: live traffic, then every client drops at
// once (deliveries in flight are cut), everyone sends -offline-messages
// over REST while all are offline, every client resumes at once with the
// since positions it saw, and live traffic runs again across the seam
// between replay and live events. Nothing acknowledged may be lost or
// arrive twice.
func (r *runner) reconnect(ctx context.Context) (Report, error) {
	if err := r.connectEvery(ctx); err != nil {
		return Report{}, err
	}
	r.st.startMeasuring()
	r.talk(ctx, r.cfg.duration/2)
	r.closeAll()
	_ = parallel(ctx, len(r.members), 64, func(i int) error {
		for range r.cfg.offline {
			r.sendREST(ctx, r.members[i])
		}
		return nil
	})
	resumeStart := time.Now()
	resumed := r.connectAll(ctx, true)
	resumeTime := time.Since(resumeStart)
	r.talk(ctx, r.cfg.duration/2)
	elapsed := r.st.stopMeasuring()
	r.drain(ctx)
	rep := r.st.report(elapsed)
	rep.Resumed, rep.ResumeMs = resumed, ms(resumeTime)
	return rep, ctx.Err()
}

// talk runs the senders for d and waits for their requests in flight.
func (r *runner) talk(ctx context.Context, d time.Duration) {
	stop, halt := context.WithTimeout(ctx, d)
	defer halt()
	r.startSenders(stop, ctx).Wait()
}

// history fills one conversation with -history-messages messages, then
// -window readers page through it, newest to oldest, 200 at a time, for
// -duration. Each full pass must see every message once, in order. The
// report's latencies are those of one page.
func (r *runner) history(ctx context.Context) (Report, error) {
	a, b := r.members[0], r.members[1]
	var filled atomic.Int64
	_ = parallel(ctx, r.cfg.history, 32, func(i int) error {
		body := encodeBody(a.idx, int64(i+1), 0, r.cfg.size)
		if _, err := a.api.AddMsg(ctx, b.user.UserID, body, ""); err != nil {
			r.st.fail("fill", err)
			return nil
		}
		filled.Add(1)
		return nil
	})
	stop, halt := context.WithCancel(ctx)
	defer halt()
	var pages atomic.Int64
	done := make(chan struct{})
	for range r.cfg.window {
		go func() {
			defer func() { done <- struct{}{} }()
			for stop.Err() == nil {
				r.readPass(stop, b, a.user.UserID, filled.Load(), &pages)
			}
		}()
	}
	elapsed := r.measure(ctx, 0, r.cfg.duration)
	halt()
	for range r.cfg.window {
		<-done
	}
	rep := r.st.report(elapsed)
	rep.PagesPerSec = float64(pages.Load()) / elapsed.Seconds()
	if pages.Load() == 0 {
		return rep, fmt.Errorf("no page read: %v", rep.Errors)
	}
	return rep, ctx.Err()
}

// historyPage is the page size of the history scenario, the contract's maximum.
const historyPage = 200

// readPass pages once through the conversation with peer and checks that
// it saw want messages, each once, seqs falling from page to page.
func (r *runner) readPass(ctx context.Context, m *member, peer string, want int64, pages *atomic.Int64) {
	var before, seen int64
	for {
		t0 := time.Now()
		msgs, err := m.api.GetMsg(ctx, client.GetMsgRequest{To: peer, BeforeSeq: before, Limit: historyPage})
		if ctx.Err() != nil {
			return // stopped mid-pass: not a finding
		}
		if err != nil {
			r.st.fail("getmsg", err)
			return
		}
		r.st.observe(time.Since(t0))
		pages.Add(1)
		for i, msg := range msgs {
			if (i > 0 && msg.Seq <= msgs[i-1].Seq) || (before != 0 && msg.Seq >= before) {
				r.st.fail("getmsg:out-of-order", nil)
				return
			}
		}
		seen += int64(len(msgs))
		if len(msgs) < historyPage {
			break
		}
		before = msgs[0].Seq
	}
	if seen != want {
		r.st.fail("getmsg:incomplete-pass", nil)
	}
}
