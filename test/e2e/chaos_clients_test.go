package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// The clients of TestChaosClusterUnderFailures: users that send until
// acknowledged and devices that reconnect and resume with since.

// chaosRun is the clients' side of the run.
type chaosRun struct {
	t     *testing.T
	nodes []*testenv.Node
	users []*chaosUser
	stop  chan struct{} // closed when senders start no new message
	epoch time.Time

	retries, reconnects atomic.Int64
	errMu               sync.Mutex
	errs                map[string]int64
}

// chaosUser is one account: it sends to its peer, in their one conversation.
type chaosUser struct {
	idx     int
	api     *client.Client
	user    *client.User
	peer    *chaosUser
	conv    string
	devices []*chaosDevice

	mu    sync.Mutex
	acked []chaosAck
}

// chaosAck is a message the server acknowledged.
type chaosAck struct {
	num      int64
	id       string
	seq      int64
	at       time.Duration // on the run's clock
	op       string
	attempts int
}

// chaosKey names a message by its sender and number (from its text).
type chaosKey struct {
	sender int
	num    int64
}

// chaosDevice is one socket of a user, reconnected for the whole run.
type chaosDevice struct {
	owner *chaosUser
	home  int // the node it tries first
	conn  atomic.Pointer[client.Conn]
	ended chan struct{}

	mu      sync.Mutex
	since   int64 // highest seq seen in the conversation
	seen    map[chaosKey]int
	gen     int                      // sockets opened so far
	when    map[chaosKey][]chaosSeen // where each message arrived, to explain findings
	sockets []string                 // each socket's node, since and lifetime
}

// chaosSeen is one arrival of a message on a device.
type chaosSeen struct {
	gen   int           // which socket of the device
	since int64         // the since that socket resumed from
	seq   int64         // the message's seq
	at    time.Duration // on the run's clock
}

func (c chaosSeen) String() string {
	return fmt.Sprintf("socket %d (since %d) seq %d at %.1fs", c.gen, c.since, c.seq, c.at.Seconds())
}

func newChaosRun(t *testing.T, nodes []*testenv.Node) *chaosRun {
	r := &chaosRun{t: t, nodes: nodes, stop: make(chan struct{}), epoch: time.Now(), errs: map[string]int64{}}
	for i := range chaosUsers {
		api, u := newUser(t, nodes[i%len(nodes)], "chaos")
		cu := &chaosUser{idx: i, api: api, user: u}
		for d := range chaosDevices {
			cu.devices = append(cu.devices, &chaosDevice{owner: cu, home: (i + d) % len(nodes), seen: map[chaosKey]int{}, when: map[chaosKey][]chaosSeen{}, ended: make(chan struct{})})
		}
		r.users = append(r.users, cu)
	}
	ctx := ctxT(t)
	for i := 0; i+1 < len(r.users); i += 2 {
		a, b := r.users[i], r.users[i+1]
		a.peer, b.peer = b, a
		// The first message opens the conversation, so that every device
		// can resume it from seq 0 and replay it all.
		m, err := a.api.AddMsg(ctx, b.user.UserID, chaosBody(a.idx, 1), chaosTxn(1))
		if err != nil {
			t.Fatal(err)
		}
		a.conv, b.conv = m.ConversationID, m.ConversationID
		a.acked = append(a.acked, chaosAck{num: 1, id: m.ID, seq: m.Seq, op: "rest-send", attempts: 1})
	}
	return r
}

func chaosBody(sender int, num int64) string { return fmt.Sprintf("chaos|%d|%d", sender, num) }
func chaosTxn(num int64) string              { return "chaos-" + strconv.FormatInt(num, 10) }

func parseChaosBody(s string) (chaosKey, bool) {
	f := strings.Split(s, "|")
	if len(f) != 3 || f[0] != "chaos" {
		return chaosKey{}, false
	}
	sender, err1 := strconv.Atoi(f[1])
	num, err2 := strconv.ParseInt(f[2], 10, 64)
	return chaosKey{sender, num}, err1 == nil && err2 == nil
}

// note logs a step of the schedule with the run's clock.
func (r *chaosRun) note(format string, args ...any) {
	r.t.Logf("%5.1fs  %s", time.Since(r.epoch).Seconds(), fmt.Sprintf(format, args...))
}

func (r *chaosRun) fail(kind string, err error) {
	k := kind
	var ae *client.APIError
	var ce *client.CloseError
	switch {
	case errors.As(err, &ae):
		k += ":" + strconv.Itoa(ae.Status) + ":" + ae.Errcode
	case errors.As(err, &ce):
		k += ":close-" + strconv.Itoa(ce.Code)
	case errors.Is(err, context.DeadlineExceeded):
		k += ":timeout"
	case err != nil:
		k += ":io"
	}
	r.errMu.Lock()
	r.errs[k]++
	r.errMu.Unlock()
}

func (r *chaosRun) errorCounts() map[string]int64 {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return maps.Clone(r.errs)
}

func (r *chaosRun) allDevices() []*chaosDevice {
	var out []*chaosDevice
	for _, u := range r.users {
		out = append(out, u.devices...)
	}
	return out
}

// connectDevices starts every device's connection loop.
func (r *chaosRun) connectDevices(ctx context.Context) {
	for _, d := range r.allDevices() {
		go r.runDevice(ctx, d)
	}
	// Traffic starts once every device is on, so the first messages test
	// live delivery, not only replay.
	testenv.Poll(30*time.Second, func() bool {
		for _, d := range r.allDevices() {
			if d.conn.Load() == nil {
				return false
			}
		}
		return true
	})
}

// runDevice keeps one socket open until ctx ends: on every end it waits
// (backoff with jitter), then resumes from the highest seq it saw, on its
// home node first and on the other node after a failure.
func (r *chaosRun) runDevice(ctx context.Context, d *chaosDevice) {
	defer close(d.ended)
	backoff := 50 * time.Millisecond
	node := d.home
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			r.reconnects.Add(1)
		}
		d.mu.Lock()
		since := map[string]int64{d.owner.conv: d.since}
		d.gen++
		gen, from := d.gen, d.since
		d.mu.Unlock()
		api := client.WithBase(d.owner.api, r.nodes[node].URL())
		conn, err := api.Connect(ctx, since)
		if err != nil {
			if ctx.Err() == nil {
				r.fail("connect", err)
			}
			node = (node + 1) % len(r.nodes)
			sleepJitter(ctx, backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		opened := time.Since(r.epoch)
		d.conn.Store(conn)
		// The end of the run closes the socket, whenever it opened.
		unhook := context.AfterFunc(ctx, func() { _ = conn.Close() })
		r.read(d, conn, gen, from)
		unhook()
		d.conn.Store(nil)
		d.mu.Lock()
		d.sockets = append(d.sockets, fmt.Sprintf("#%d node %d since %d %.1fs-%.1fs close %d", gen, node, from, opened.Seconds(), time.Since(r.epoch).Seconds(), conn.CloseCode()))
		d.mu.Unlock()
		if ctx.Err() == nil {
			r.fail("socket", &client.CloseError{Code: conn.CloseCode()})
			sleepJitter(ctx, backoff)
		}
		node = d.home
	}
}

// read takes one socket's message events until it ends.
func (r *chaosRun) read(d *chaosDevice, conn *client.Conn, gen int, from int64) {
	for ev := range conn.Events() {
		if ev.Name != "msg-recieve" {
			continue
		}
		var m client.Message
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			r.fail("decode", err)
			continue
		}
		k, ok := parseChaosBody(m.Message)
		if !ok || m.ConversationID != d.owner.conv {
			r.fail("foreign-message", nil)
			continue
		}
		d.mu.Lock()
		d.since = max(d.since, m.Seq)
		d.seen[k]++
		d.when[k] = append(d.when[k], chaosSeen{gen, from, m.Seq, time.Since(r.epoch)})
		d.mu.Unlock()
	}
}

func sleepJitter(ctx context.Context, d time.Duration) {
	d = d/2 + rand.N(d/2+1)
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// startSenders starts one send loop per user. Each message is retried with
// the same txn_id until it is acknowledged; a new one starts only then.
func (r *chaosRun) startSenders(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, u := range r.users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			num := int64(1) // the pair's opening message was number 1 of the first member
			if u.idx%2 == 1 {
				num = 0
			}
			tick := time.NewTicker(chaosPace)
			defer tick.Stop()
			for {
				select {
				case <-r.stop:
					return
				case <-tick.C:
				}
				num++
				r.sendUntilAcked(ctx, u, num)
			}
		}()
	}
	return &wg
}

// sendUntilAcked sends message num of u, over a socket of u or over REST
// in turn, until the server acknowledges it.
func (r *chaosRun) sendUntilAcked(ctx context.Context, u *chaosUser, num int64) {
	backoff := 50 * time.Millisecond
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			r.retries.Add(1)
			sleepJitter(ctx, backoff)
			backoff = min(2*backoff, time.Second)
		}
		actx, cancel := context.WithTimeout(ctx, chaosAttempt)
		m, op, err := r.sendOnce(actx, u, num, attempt)
		cancel()
		if err == nil {
			u.mu.Lock()
			u.acked = append(u.acked, chaosAck{num: num, id: m.ID, seq: m.Seq, at: time.Since(r.epoch), op: op, attempts: attempt + 1})
			u.mu.Unlock()
			return
		}
		r.fail(op, err)
		var ae *client.APIError
		if errors.As(err, &ae) && ae.RetryAfter > 0 {
			sleepJitter(ctx, ae.RetryAfter)
		}
	}
}

// sendOnce is one attempt: even attempts of even messages go over a
// socket when one is open, the others over REST to a node in turn.
func (r *chaosRun) sendOnce(ctx context.Context, u *chaosUser, num int64, attempt int) (*client.Message, string, error) {
	body, txn := chaosBody(u.idx, num), chaosTxn(num)
	if (num+int64(attempt))%2 == 0 {
		d := u.devices[(int(num)/2+attempt)%len(u.devices)]
		if conn := d.conn.Load(); conn != nil {
			m, err := conn.SendMsg(ctx, u.peer.user.UserID, body, txn)
			return m, "ws-send", err
		}
	}
	api := client.WithBase(u.api, r.nodes[(int(num)+attempt)%len(r.nodes)].URL())
	m, err := api.AddMsg(ctx, u.peer.user.UserID, body, txn)
	return m, "rest-send", err
}

// devicesCaughtUp reports whether every device saw every acknowledged
// message of its conversation.
func (r *chaosRun) devicesCaughtUp() bool {
	for _, d := range r.allDevices() {
		want := append(d.owner.ackedKeys(), d.owner.peer.ackedKeys()...)
		d.mu.Lock()
		missing := slices.ContainsFunc(want, func(k chaosKey) bool { return d.seen[k] == 0 })
		d.mu.Unlock()
		if missing {
			return false
		}
	}
	return true
}

func (u *chaosUser) ackedKeys() []chaosKey {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]chaosKey, len(u.acked))
	for i, a := range u.acked {
		out[i] = chaosKey{u.idx, a.num}
	}
	return out
}

// closeDevices waits for every device to end; ctx, already cancelled,
// closes their sockets.
func (r *chaosRun) closeDevices() {
	for _, d := range r.allDevices() {
		<-d.ended
	}
}
