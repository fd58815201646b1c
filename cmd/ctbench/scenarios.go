package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/crypttalk/crypttalk/client"
)

// traffic runs chat (a fixed total rate spread over the users) or max
// (every user sends as fast as acks come back, -window in flight).
func (r *runner) traffic(ctx context.Context) (Report, error) {
	if _, err := r.connectAll(ctx, nil); err != nil {
		return Report{}, err
	}
	defer r.closeAll()
	runCtx, cancel := context.WithTimeout(ctx, r.cfg.warmup+r.cfg.duration)
	defer cancel()
	var senders sync.WaitGroup
	for _, m := range r.members {
		workers := 1
		if r.cfg.scenario == "max" || r.cfg.rate == 0 {
			workers = r.cfg.window
		}
		for w := 0; w < workers; w++ {
			senders.Add(1)
			go func(m *member) {
				defer senders.Done()
				r.sendLoop(runCtx, m)
			}(m)
		}
	}
	time.Sleep(r.cfg.warmup)
	r.st.setCounting(true)
	start := time.Now()
	go progress(runCtx, r.st, start)
	senders.Wait()
	elapsed := time.Since(start)
	r.drain(5 * time.Second)
	return r.st.report(elapsed), nil
}

func (r *runner) sendLoop(ctx context.Context, m *member) {
	if r.cfg.scenario == "max" || r.cfg.rate == 0 {
		for ctx.Err() == nil {
			r.sendOne(ctx, m)
		}
		return
	}
	interval := time.Duration(float64(time.Second) * float64(len(r.members)) / float64(r.cfg.rate))
	// Stagger the users so the total rate is smooth, not bursty.
	select {
	case <-time.After(time.Duration(m.idx) * interval / time.Duration(len(r.members))):
	case <-ctx.Done():
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.sendOne(ctx, m)
		}
	}
}

// idle holds users x devices idle connections and reports the server's
// resident memory per connection.
func (r *runner) idle(ctx context.Context) (Report, error) {
	var before int64
	if r.srv != nil {
		before = currentRSS(r.srv.pid())
	}
	start := time.Now()
	opened, err := r.connectAll(ctx, nil)
	defer r.closeAll()
	if err != nil && opened == 0 {
		return Report{}, err
	}
	select {
	case <-time.After(r.cfg.duration):
	case <-ctx.Done():
	}
	rep := r.st.report(time.Since(start))
	if r.srv != nil && opened > 0 {
		rep.RSSPerConnBytes = (currentRSS(r.srv.pid()) - before) / int64(opened)
	}
	rep.Resumed = opened
	return rep, nil
}

// reconnect: live traffic, then every client drops at once while messages
// keep coming over REST, then all resume with since: nothing may be lost or
// doubled.
func (r *runner) reconnect(ctx context.Context) (Report, error) {
	if _, err := r.connectAll(ctx, nil); err != nil {
		return Report{}, err
	}
	r.st.setCounting(true)
	start := time.Now()
	for _, m := range r.members {
		r.sendOne(ctx, m)
	}
	r.drain(10 * time.Second)
	r.closeAll()
	r.wg.Wait() // every reader has recorded its last positions
	var wg sync.WaitGroup
	for _, m := range r.members {
		wg.Add(1)
		go func(m *member) {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				seq := m.seq.Add(1)
				if _, err := m.c.AddMsg(ctx, m.peer.u.UserID, encodeBody(m.name, seq, time.Now(), r.cfg.size), ""); err != nil {
					r.st.fail("rest-send")
					continue
				}
				r.st.ack(m.peer.deviceKeys(), m.name, seq)
			}
		}(m)
	}
	wg.Wait()
	opened, err := r.connectAll(ctx, func(m *member, d int) map[string]int64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		s := map[string]int64{}
		for conv, seq := range m.last[d] {
			s[conv] = seq
		}
		return s
	})
	defer r.closeAll()
	if err != nil {
		r.st.fail("resume")
	}
	r.drain(30 * time.Second)
	rep := r.st.report(time.Since(start))
	rep.Resumed = opened
	return rep, nil
}

// history fills one conversation and pages through it with getmsg.
func (r *runner) history(ctx context.Context) (Report, error) {
	a, b := r.members[0], r.members[1]
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := 0; i < r.cfg.history; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := a.c.AddMsg(ctx, b.u.UserID, encodeBody(a.name, int64(i), time.Now(), r.cfg.size), ""); err != nil {
				r.st.fail("fill")
			}
		}(i)
	}
	wg.Wait()
	start := time.Now()
	pages, seen := 0, 0
	deadline := start.Add(r.cfg.duration)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var before int64
		for {
			msgs, err := b.c.GetMsg(ctx, client.GetMsgRequest{To: a.u.UserID, BeforeSeq: before, Limit: 200})
			if err != nil {
				r.st.fail("getmsg")
				break
			}
			pages++
			seen += len(msgs)
			if len(msgs) < 200 {
				break
			}
			before = msgs[0].Seq
		}
	}
	elapsed := time.Since(start)
	rep := r.st.report(elapsed)
	rep.PagesPerSec = float64(pages) / elapsed.Seconds()
	if pages == 0 {
		return rep, fmt.Errorf("no page read")
	}
	return rep, nil
}
