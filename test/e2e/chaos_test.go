package e2e

import (
	"context"
	"encoding/base64"
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
	"github.com/crypttalk/crypttalk/vault"
)

// The chaos run: chaosUsers users in pairs, chaosDevices sockets each,
// every user sending one message every chaosPace (WS and REST in turn,
// each with a txn_id) for at least chaosTraffic while nodes, Redis and
// the MongoDB wire server fail.
const (
	chaosUsers   = 6
	chaosDevices = 3
	chaosPace    = 250 * time.Millisecond
	chaosTraffic = 60 * time.Second
	// chaosSettle bounds the wait for the last sends to be acknowledged
	// and for every device to catch up once every service is back.
	chaosSettle = 30 * time.Second
	// chaosAttempt bounds one send attempt; a longer one is retried.
	chaosAttempt = 8 * time.Second
)

// TestChaosClusterUnderFailures runs chat traffic on two nodes while a
// node is killed with SIGKILL and restarted, Redis is restarted and the
// MongoDB wire server is frozen (SIGSTOP) or killed for 5 s, each twice.
// Clients behave as real ones: they reconnect with backoff and resume with
// since, and retry a send with the same txn_id until it is acknowledged.
// At the end every acknowledged message must be in the history exactly
// once and must have reached every device of both members exactly once.
//
// Run alone: go test -race -count=1 -run Chaos -v ./test/e2e/
func TestChaosClusterUnderFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run takes about 90 s")
	}
	t.Parallel()
	redis := testenv.StartRedis(t)
	mongo := testenv.StartMongoProcess(t)
	if !mongo.CanPause() {
		t.Skip("CRYPTTALK_TEST_MONGO_URL names a real MongoDB, which this test cannot stop")
	}
	keys := "v1:" + base64.StdEncoding.EncodeToString(vault.NewDataKey())
	env := []string{
		"MONGO_URL=" + mongo.URL(), "REDIS_URL=" + redis.URL(), "CRYPTTALK_MASTER_KEYS=" + keys,
		"CRYPTTALK_BUS_PRESENCE_TTL=3s", "CRYPTTALK_STORE_OP_TIMEOUT=3s",
		"CRYPTTALK_BUS_PREFIX=" + fmt.Sprintf("chaos%d:", time.Now().UnixNano()),
		"CRYPTTALK_LOG_LEVEL=info",
	}
	nodes := []*testenv.Node{
		testenv.StartNode(t, testenv.NodeConfig{Env: env}),
		testenv.StartNode(t, testenv.NodeConfig{Env: env}),
	}
	r := newChaosRun(t, nodes)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.connectDevices(ctx)
	senders := r.startSenders(ctx)

	start := time.Now()
	pause := func(d time.Duration) { time.Sleep(d) } // the schedule is the test: its waits are the outages
	pause(4 * time.Second)
	for round := range 2 {
		victim := nodes[1-round]
		r.note("kill -9 node %s", victim.Addr)
		victim.Kill()
		pause(2 * time.Second)
		victim.Start()
		r.note("node %s back", victim.Addr)
		pause(3 * time.Second)

		r.note("redis restart")
		redis.Stop()
		pause(time.Second)
		redis.Start()
		pause(4 * time.Second)

		if round == 0 {
			r.note("mongo frozen (SIGSTOP) for 5s")
			mongo.Pause()
			pause(5 * time.Second)
			mongo.Resume()
		} else {
			r.note("mongo killed (SIGKILL), restarted after 5s")
			mongo.Kill()
			pause(5 * time.Second)
			mongo.Start()
		}
		r.note("mongo back")
		pause(4 * time.Second)
	}
	if rest := chaosTraffic - time.Since(start); rest > 0 {
		pause(rest)
	}
	r.note("traffic stops after %s", time.Since(start).Round(time.Second))
	close(r.stop)
	if !waitGroupWithin(senders, chaosSettle+chaosAttempt) {
		t.Fatal("senders still retrying long after every service came back")
	}
	testenv.Poll(chaosSettle, r.devicesCaughtUp)
	res := r.verify(ctx)
	cancel()
	r.closeDevices()

	summary := fmt.Sprintf("chaos: acknowledged=%d lost=%d duplicated=%d (history: lost %d, duplicated %d; devices: %d deliveries due, lost %d, duplicated %d; %d send retries, %d reconnects)",
		res.acked, res.lost(), res.duplicated(), res.historyLost, res.historyDup,
		res.deliveries, res.deviceLost, res.deviceDup, r.retries.Load(), r.reconnects.Load())
	t.Log(summary)
	fmt.Println(summary)
	t.Logf("errors seen by the clients (retried): %v", r.errorCounts())
	for _, d := range res.details {
		t.Log(d)
	}
	if res.acked == 0 {
		t.Fatal("no message was acknowledged: the run tested nothing")
	}
	if res.lost() > 0 || res.duplicated() > 0 {
		t.Fatalf("lost %d, duplicated %d of %d acknowledged messages", res.lost(), res.duplicated(), res.acked)
	}
}

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
		r.read(d, conn, gen, from)
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

func (r *chaosRun) closeDevices() {
	for _, d := range r.allDevices() {
		if c := d.conn.Load(); c != nil {
			_ = c.Close()
		}
		<-d.ended
	}
}

// chaosResult is what verify counted.
type chaosResult struct {
	acked                   int
	historyLost, historyDup int
	deliveries              int
	deviceLost, deviceDup   int
	details                 []string
	dupDetails              int
}

func (c chaosResult) lost() int       { return c.historyLost + c.deviceLost }
func (c chaosResult) duplicated() int { return c.historyDup + c.deviceDup }

// detail keeps the first findings for the log.
func (c *chaosResult) detail(format string, args ...any) {
	if len(c.details) < 40 {
		c.details = append(c.details, fmt.Sprintf(format, args...))
	}
}

// dupDetail keeps the first few duplicates, so that losses still show.
func (c *chaosResult) dupDetail(format string, args ...any) {
	if c.dupDetails < 8 {
		c.dupDetails++
		c.detail(format, args...)
	}
}

// verify reads each conversation's whole history and compares it, and
// what each device saw, with the acknowledged messages.
func (r *chaosRun) verify(ctx context.Context) chaosResult {
	var res chaosResult
	for i := 0; i+1 < len(r.users); i += 2 {
		a, b := r.users[i], r.users[i+1]
		history := r.history(ctx, a)
		want := append(a.ackedKeys(), b.ackedKeys()...)
		res.acked += len(want)
		for _, u := range []*chaosUser{a, b} {
			u.mu.Lock()
			for _, ack := range u.acked {
				if ack.id == "" {
					res.detail("%s: message %d acknowledged without a stored message (null msg)", u.user.UserID, ack.num)
				}
			}
			u.mu.Unlock()
		}
		for _, k := range want {
			if len(history[k]) == 0 {
				res.historyLost++
				res.detail("history of %s: acknowledged message %d of user %d is missing", a.conv, k.num, k.sender)
			}
		}
		for k, ms := range history {
			if len(ms) > 1 {
				res.historyDup += len(ms) - 1
				var stored []string
				for _, m := range ms {
					stored = append(stored, fmt.Sprintf("id %s seq %d at %s", m.ID, m.Seq, m.CreatedAt))
				}
				res.detail("history of %s: message %d of user %d (%s) stored %d times: %v", a.conv, k.num, k.sender, r.ackOf(k), len(ms), stored)
			}
		}
		for _, d := range append(slices.Clone(a.devices), b.devices...) {
			d.mu.Lock()
			for _, k := range want {
				res.deliveries++
				if d.seen[k] == 0 {
					res.deviceLost++
					res.detail("device of %s (home node %d): never got message %d of user %d (%s); its sockets: %v", d.owner.user.UserID, d.home, k.num, k.sender, r.ackOf(k), d.sockets)
				}
			}
			for k, n := range d.seen {
				if n > 1 {
					res.deviceDup += n - 1
					res.dupDetail("device of %s (home node %d): got message %d of user %d %d times: %v", d.owner.user.UserID, d.home, k.num, k.sender, n, d.when[k])
				}
			}
			d.mu.Unlock()
		}
	}
	return res
}

// ackOf describes the acknowledgement of message k.
func (r *chaosRun) ackOf(k chaosKey) string {
	u := r.users[k.sender]
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, a := range u.acked {
		if a.num == k.num {
			return fmt.Sprintf("seq %d acked at %.1fs by %s after %d attempts", a.seq, a.at.Seconds(), a.op, a.attempts)
		}
	}
	return "not acked"
}

// history returns the messages of u's conversation by key, paging from the
// newest back (without a cursor getmsg answers the newest page).
func (r *chaosRun) history(ctx context.Context, u *chaosUser) map[chaosKey][]client.Message {
	r.t.Helper()
	const pageSize = 200
	out := map[chaosKey][]client.Message{}
	var before int64
	for {
		page, err := u.api.GetMsg(ctx, client.GetMsgRequest{To: u.peer.user.UserID, BeforeSeq: before, Limit: pageSize})
		if err != nil {
			r.t.Fatalf("history of %s: %v", u.conv, err)
		}
		for _, m := range page {
			if k, ok := parseChaosBody(m.Message); ok {
				out[k] = append(out[k], m)
			}
		}
		if len(page) < pageSize {
			return out
		}
		before = page[0].Seq
	}
}

// waitGroupWithin waits for wg at most d.
func waitGroupWithin(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
