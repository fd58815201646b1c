package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crypttalk/crypttalk/client"
)

// member is one simulated user with its devices.
type member struct {
	idx   int
	name  string
	c     *client.Client
	u     *client.User
	peer  *member
	conns []*client.Conn
	seq   atomic.Int64
	// last seq seen per device per conversation, for reconnect
	mu   sync.Mutex
	last []map[string]int64
}

func (m *member) deviceKey(d int) string { return m.name + "/" + strconv.Itoa(d) }

func (m *member) deviceKeys() []string {
	out := make([]string, len(m.conns))
	for d := range m.conns {
		out[d] = m.deviceKey(d)
	}
	return out
}

type runner struct {
	cfg     config
	st      *stats
	members []*member
	srv     *server
	wg      sync.WaitGroup
}

func run(ctx context.Context, cfg config) (Report, error) {
	raiseFileLimit()
	if cfg.scenario == "restart" {
		return restart(ctx, cfg)
	}
	r := &runner{cfg: cfg, st: newStats()}
	if cfg.start {
		srv, err := startServer(ctx, cfg.serverBin, cfg.serverEnv)
		if err != nil {
			return Report{}, err
		}
		defer srv.stop()
		r.srv = srv
		r.cfg.urls = []string{srv.url}
	}
	if err := r.register(ctx); err != nil {
		return Report{}, err
	}
	var rep Report
	var err error
	switch cfg.scenario {
	case "chat", "max":
		rep, err = r.traffic(ctx)
	case "idle":
		rep, err = r.idle(ctx)
	case "reconnect":
		rep, err = r.reconnect(ctx)
	case "history":
		rep, err = r.history(ctx)
	default:
		return Report{}, fmt.Errorf("unknown scenario %q", cfg.scenario)
	}
	rep.Scenario, rep.Users, rep.Devices, rep.Connections = cfg.scenario, cfg.users, cfg.devices, cfg.users*cfg.devices
	if r.srv != nil {
		rep.ServerRSSBytes, rep.ServerCPUSeconds = procStats(r.srv.pid())
	}
	return rep, err
}

// register creates the users (in parallel) with a run prefix so that runs
// never collide, and pairs them: 0-1, 2-3, ...
func (r *runner) register(ctx context.Context) error {
	prefix := "b" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	r.members = make([]*member, r.cfg.users)
	errc := make(chan error, r.cfg.users)
	sem := make(chan struct{}, 32)
	for i := range r.members {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			m := &member{idx: i, name: fmt.Sprintf("%s_%d", prefix, i)}
			m.c = client.New(r.cfg.urls[i%len(r.cfg.urls)])
			u, err := m.c.Register(ctx, m.name, m.name+"@bench.invalid", "benchmark-password")
			if err != nil {
				errc <- fmt.Errorf("register %s: %w", m.name, err)
				return
			}
			m.u = u
			r.members[i] = m
			errc <- nil
		}(i)
	}
	for range r.members {
		if err := <-errc; err != nil {
			return err
		}
	}
	for i := 0; i+1 < len(r.members); i += 2 {
		r.members[i].peer, r.members[i+1].peer = r.members[i+1], r.members[i]
	}
	if len(r.members)%2 == 1 { // the odd one out talks to user 0
		r.members[len(r.members)-1].peer = r.members[0]
	}
	return nil
}

// connectAll opens every device of every member, spread over the nodes.
func (r *runner) connectAll(ctx context.Context, since func(m *member, d int) map[string]int64) (int, error) {
	var mu sync.Mutex
	var firstErr error
	opened := 0
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, m := range r.members {
		if m.conns == nil {
			m.conns = make([]*client.Conn, r.cfg.devices)
			m.last = make([]map[string]int64, r.cfg.devices)
		}
		for d := 0; d < r.cfg.devices; d++ {
			wg.Add(1)
			sem <- struct{}{}
			go func(m *member, d int) {
				defer wg.Done()
				defer func() { <-sem }()
				c := client.WithBase(m.c, r.cfg.urls[(m.idx+d)%len(r.cfg.urls)])
				var s map[string]int64
				if since != nil {
					s = since(m, d)
				}
				conn, err := c.Connect(ctx, s)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					r.st.fail("connect")
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				opened++
				m.conns[d] = conn
				r.wg.Add(1)
				go r.receive(m, d, conn)
			}(m, d)
		}
	}
	wg.Wait()
	return opened, firstErr
}

// receive reads one device's events until its socket closes.
func (r *runner) receive(m *member, d int, conn *client.Conn) {
	defer r.wg.Done()
	key := m.deviceKey(d)
	for ev := range conn.Events() {
		if ev.Name != "msg-recieve" {
			continue
		}
		var msg client.Message
		if json.Unmarshal(ev.Data, &msg) != nil {
			r.st.fail("bad-frame")
			continue
		}
		m.mu.Lock()
		if m.last[d] == nil {
			m.last[d] = map[string]int64{}
		}
		m.last[d][msg.ConversationID] = max(m.last[d][msg.ConversationID], msg.Seq)
		m.mu.Unlock()
		if msg.FromSelf {
			continue
		}
		if sender, seq, sent, ok := parseBody(msg.Message); ok {
			r.st.deliver(key, sender, seq, sent)
		}
	}
}

func (r *runner) closeAll() {
	for _, m := range r.members {
		for _, c := range m.conns {
			if c != nil {
				c.Close()
			}
		}
	}
}

// encodeBody is "ctb|sender|seq|unixnano|" padded to size.
func encodeBody(sender string, seq int64, sent time.Time, size int) string {
	s := "ctb|" + sender + "|" + strconv.FormatInt(seq, 10) + "|" + strconv.FormatInt(sent.UnixNano(), 10) + "|"
	if len(s) < size {
		s += strings.Repeat("x", size-len(s))
	}
	return s
}

func parseBody(s string) (string, int64, time.Time, bool) {
	f := strings.SplitN(s, "|", 5)
	if len(f) < 5 || f[0] != "ctb" {
		return "", 0, time.Time{}, false
	}
	seq, err1 := strconv.ParseInt(f[2], 10, 64)
	ns, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, time.Time{}, false
	}
	return f[1], seq, time.Unix(0, ns), true
}

// sendOne sends the member's next message over its first device.
func (r *runner) sendOne(ctx context.Context, m *member) {
	seq := m.seq.Add(1)
	_, err := m.conns[0].SendMsg(ctx, m.peer.u.UserID, encodeBody(m.name, seq, time.Now(), r.cfg.size), "")
	if err != nil {
		if ctx.Err() == nil {
			var ae *client.APIError
			if errors.As(err, &ae) {
				r.st.fail(ae.Errcode)
			} else {
				r.st.fail("send")
			}
		}
		return
	}
	r.st.ack(m.peer.deviceKeys(), m.name, seq)
}

// drain waits until every acked message arrived or the grace time passed.
func (r *runner) drain(grace time.Duration) {
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && r.st.lost() > 0 {
		time.Sleep(50 * time.Millisecond)
	}
}

func progress(ctx context.Context, st *stats, start time.Time) {
	if fi, err := os.Stdout.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprint(os.Stdout, "\n")
			return
		case <-t.C:
			rep := st.report(time.Since(start))
			fmt.Fprintf(os.Stdout, "\r%5.0fs  acked %8d (%6.0f/s)  delivered %8d  p99 %6.2fms  errors %v   ", rep.DurationS, rep.Acked, rep.AckedPerSec, rep.Delivered, rep.P99ms, rep.Errors)
		}
	}
}
