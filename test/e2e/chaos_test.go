package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
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

// TestChaosResyncAfterRedisRestartKeepsSince is the chaos run's duplicate
// in small: after a bus outage a node replays what its sockets may have
// missed, and that replay must start from where each socket is (its
// since, then what it saw), never below. One socket resumed at since=10,
// another replayed everything from since=0; each must see every message
// exactly once across a Redis restart.
func TestChaosResyncAfterRedisRestartKeepsSince(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	n1 := c.nodes[0]
	ctx := ctxT(t)
	alice, _ := newUser(t, n1, "rsa")
	bob, bu := newUser(t, n1, "rsb")
	var conv string
	var last int64
	for i := range 10 {
		m, err := alice.AddMsg(ctx, bu.UserID, fmt.Sprintf("before %d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		conv, last = m.ConversationID, m.Seq
	}
	resumed := connect(t, bob, map[string]int64{conv: last})
	replayed := connect(t, bob, map[string]int64{conv: 0})
	seen := map[*client.Conn]map[int64]int{resumed: {}, replayed: {}}
	// collect takes the messages of conn until the one with text arrives.
	collect := func(conn *client.Conn, text string) bool {
		timeout := time.After(2 * time.Second)
		for {
			select {
			case ev, ok := <-conn.Events():
				if !ok {
					t.Fatalf("socket closed (code %d)", conn.CloseCode())
				}
				var m client.Message
				if ev.Name != "msg-recieve" || json.Unmarshal(ev.Data, &m) != nil {
					continue
				}
				seen[conn][m.Seq]++
				if m.Message == text {
					return true
				}
			case <-timeout:
				return false
			}
		}
	}
	if _, err := alice.AddMsg(ctx, bu.UserID, "live", ""); err != nil {
		t.Fatal(err)
	}
	for conn := range seen {
		if !collect(conn, "live") {
			t.Fatal("live message did not arrive")
		}
	}

	t0 := time.Now()
	c.redis.Stop()
	c.redis.Start()
	// Live delivery comes back once the node has resubscribed (and
	// resynced): send until a message arrives live on both sockets.
	for i := 0; ; i++ {
		text := fmt.Sprintf("after %d", i)
		if _, err := alice.AddMsg(ctx, bu.UserID, text, ""); err != nil {
			t.Fatal(err)
		}
		if collect(resumed, text) && collect(replayed, text) {
			t.Logf("live again %s after the restart, %d sends", time.Since(t0), i+1)
			break
		}
		if i == 15 {
			t.Fatal("live delivery did not come back within 30 s after Redis restarted")
		}
	}
	for conn, name := range map[*client.Conn]string{resumed: "socket resumed at since=10", replayed: "socket that replayed from 0"} {
		var below, twice []int64
		for seq, n := range seen[conn] {
			if conn == resumed && seq <= last {
				below = append(below, seq)
			} else if n > 1 {
				twice = append(twice, seq)
			}
		}
		slices.Sort(below)
		slices.Sort(twice)
		if len(below) > 0 || len(twice) > 0 {
			t.Errorf("%s: after the Redis restart it got seqs %v again, at or below its since %d, and seqs %v twice", name, below, last, twice)
		}
	}
}
