package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crypttalk/crypttalk/client"
)

// eventBuffer is each socket's event queue in the tool: its reader drains it
// at once, and thousands of idle sockets must stay cheap.
const eventBuffer = 64

// member is one simulated user.
type member struct {
	idx     int
	name    string
	api     *client.Client
	user    *client.User
	peer    *member
	devices []*device
	sent    atomic.Int64 // the last message number it used

	mu    sync.Mutex
	convs map[string]bool // conversations it is in, learned from acks
}

// device is one connection of a member, kept across reconnects.
type device struct {
	id    int // global: member.idx*devices + index
	owner *member
	conn  atomic.Pointer[client.Conn]
	done  chan struct{} // closed when the current socket's reader ends

	mu    sync.Mutex
	since map[string]int64 // highest seq seen per conversation
}

// learn records that m is in conversation conv.
func (m *member) learn(conv string) {
	m.mu.Lock()
	m.convs[conv] = true
	m.mu.Unlock()
}

// deviceIDs are the ids of m's devices.
func (m *member) deviceIDs() []int {
	ids := make([]int, len(m.devices))
	for i, d := range m.devices {
		ids[i] = d.id
	}
	return ids
}

// resumeSince is what d resumes from: every conversation of its owner at
// the highest seq d saw there (0, everything, where it saw nothing).
func (d *device) resumeSince() map[string]int64 {
	d.owner.mu.Lock()
	defer d.owner.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	s := make(map[string]int64, len(d.owner.convs))
	for conv := range d.owner.convs {
		s[conv] = d.since[conv]
	}
	return s
}

// runPrefix is a fresh, random username prefix: "cb" and 10 base-32
// characters (50 bits), so runs against one server never collide.
func runPrefix() string {
	return "cb" + strings.ToLower(rand.Text()[:10])
}

// register creates the users, spread over the nodes, and pairs them up:
// 0-1, 2-3, ...; with an odd count the last one talks to user 0.
func (r *runner) register(ctx context.Context) error {
	prefix := runPrefix()
	r.members = make([]*member, r.cfg.users)
	err := parallel(ctx, r.cfg.users, 16, func(i int) error {
		m := &member{idx: i, name: prefix + "_" + strconv.Itoa(i), convs: map[string]bool{}}
		m.api = client.New(r.cfg.urls[i%len(r.cfg.urls)])
		m.api.EventBuffer = eventBuffer
		u, err := registerOne(ctx, m.api, m.name)
		if err != nil {
			return fmt.Errorf("register %s: %w", m.name, err)
		}
		m.user = u
		for d := range r.cfg.devices {
			m.devices = append(m.devices, &device{id: i*r.cfg.devices + d, owner: m, since: map[string]int64{}})
		}
		r.members[i] = m
		return nil
	})
	if err != nil {
		return err
	}
	for i := 0; i+1 < len(r.members); i += 2 {
		r.members[i].peer, r.members[i+1].peer = r.members[i+1], r.members[i]
	}
	if n := len(r.members); n%2 == 1 {
		r.members[n-1].peer = r.members[0]
	}
	return nil
}

// registerOne registers a user, waiting out rate limits a few times.
func registerOne(ctx context.Context, c *client.Client, name string) (*client.User, error) {
	for attempt := 0; ; attempt++ {
		u, err := c.Register(ctx, name, name+"@bench.invalid", "bench-password-"+name)
		var ae *client.APIError
		if err == nil || attempt == 4 || !errors.As(err, &ae) || ae.Status != 429 {
			return u, err
		}
		wait := max(ae.RetryAfter, time.Second)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// parallel runs f(0..n-1), at most width at a time, and returns the first
// error (the others still finish).
func parallel(ctx context.Context, n, width int, f func(i int) error) error {
	sem := make(chan struct{}, width)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil {
			errs <- ctx.Err()
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- f(i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// connectAll opens every device (resume: with its since positions), spread
// over the nodes, and starts a reader for each. It returns how many opened;
// failures are counted as errors.
func (r *runner) connectAll(ctx context.Context, resume bool) int {
	var opened atomic.Int64
	devices := r.allDevices()
	_ = parallel(ctx, len(devices), 256, func(i int) error {
		d := devices[i]
		var since map[string]int64
		if resume {
			since = d.resumeSince()
		}
		api := client.WithBase(d.owner.api, r.cfg.urls[d.id%len(r.cfg.urls)])
		conn, err := api.Connect(ctx, since)
		if err != nil {
			r.st.fail("connect", err)
			return nil
		}
		opened.Add(1)
		d.conn.Store(conn)
		d.done = make(chan struct{})
		go r.receive(d, conn)
		return nil
	})
	return int(opened.Load())
}

func (r *runner) allDevices() []*device {
	var out []*device
	for _, m := range r.members {
		out = append(out, m.devices...)
	}
	return out
}

// wireMessage is the part of a message event the tool reads.
type wireMessage struct {
	Seq            int64  `json:"seq"`
	ConversationID string `json:"conversation_id"`
	FromSelf       bool   `json:"fromSelf"`
	Message        string `json:"message"`
}

// receive reads one socket's events until it ends: it keeps the device's
// since positions and checks the tool's messages in the ledger.
func (r *runner) receive(d *device, conn *client.Conn) {
	defer close(d.done)
	for ev := range conn.Events() {
		if ev.Name != "msg-recieve" {
			continue
		}
		now := time.Since(r.st.epoch)
		var m wireMessage
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			r.st.fail("receive", err)
			continue
		}
		d.mu.Lock()
		d.since[m.ConversationID] = max(d.since[m.ConversationID], m.Seq)
		d.mu.Unlock()
		if m.FromSelf {
			continue
		}
		sender, num, sent, ok := parseBody(m.Message)
		if !ok || sender >= len(r.members) || num > r.members[sender].sent.Load() {
			r.st.fail("receive:foreign-message", nil)
			continue
		}
		r.st.deliver(sender, d.id, num, now-sent)
	}
	if code := conn.CloseCode(); code != client.CloseNormal && !r.closing.Load() {
		r.st.fail("socket", &client.CloseError{Code: code})
	}
}
