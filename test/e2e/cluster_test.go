package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/vault"
)

type cluster struct {
	redis  *testenv.RedisServer
	mongo  *testenv.MongoServer
	nodes  []*testenv.Node
	extras []string
}

// startCluster starts redis-server, a MongoDB wire server and two
// crypttalkd nodes sharing them.
func startCluster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	c := &cluster{redis: testenv.StartRedis(t), mongo: testenv.StartMongo(t)}
	keys := "v1:" + base64.StdEncoding.EncodeToString(vault.NewDataKey())
	env := append([]string{
		"MONGO_URL=" + c.mongo.URL(), "REDIS_URL=" + c.redis.URL(), "CRYPTTALK_MASTER_KEYS=" + keys,
		"CRYPTTALK_BUS_PRESENCE_TTL=3s", "CRYPTTALK_STORE_OP_TIMEOUT=3s",
		"CRYPTTALK_BUS_PREFIX=" + fmt.Sprintf("ct%d:", time.Now().UnixNano()),
	}, extra...)
	for i := 0; i < 2; i++ {
		c.nodes = append(c.nodes, testenv.StartNode(t, testenv.NodeConfig{Env: env}))
	}
	return c
}

func TestClusterChatPresenceLogoutFailover(t *testing.T) {
	c := startCluster(t)
	n1, n2 := c.nodes[0], c.nodes[1]
	ctx := ctxT(t)
	alice, au := newUser(t, n1, "alice")
	bob, bu := newUser(t, n2, "bob")
	first, err := alice.AddMsg(ctx, bu.UserID, "hello from node 1", "")
	if err != nil {
		t.Fatal(err)
	}
	aconn := connect(t, alice, nil)                          // on n1
	bconn := connect(t, client.WithBase(bob, n2.URL()), nil) // on n2
	waitEvent(t, aconn, "user-connected", func(d json.RawMessage) bool { return strings.Contains(string(d), bu.UserID) })

	if _, err := aconn.SendMsg(ctx, bu.UserID, "n1 -> n2", ""); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bconn, "msg-recieve", msgWith("n1 -> n2"))
	lastBob, err := bconn.SendMsg(ctx, au.UserID, "n2 -> n1", "")
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aconn, "msg-recieve", msgWith("n2 -> n1"))

	t.Run("logout on one node is refused on the other", func(t *testing.T) {
		d, _ := newUser(t, n1, "dave")
		other := client.WithBase(d, n2.URL())
		if _, err := other.Me(ctx); err != nil {
			t.Fatal(err)
		}
		dconn := connect(t, other, nil)
		if err := d.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := other.Me(ctx)
		apiErr(t, err, 401, "CT_UNAUTHORIZED")
		for range dconn.Events() {
		}
		if dconn.CloseCode() != 4001 {
			t.Fatalf("socket on the other node: close %d, want 4001", dconn.CloseCode())
		}
	})

	t.Run("kill -9 of a node: resume elsewhere, nothing lost or doubled", func(t *testing.T) {
		n2.Kill()
		var sent []string
		for i := 0; i < 5; i++ {
			text := fmt.Sprintf("while n2 was dead %d", i)
			if _, err := alice.AddMsg(ctx, bu.UserID, text, ""); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, text)
		}
		// Bob's position is the last message his device saw: his own.
		since := lastBob.Seq
		b2 := connect(t, client.WithBase(bob, n1.URL()), map[string]int64{first.ConversationID: since})
		got := drainMessages(b2, time.Second)
		if len(got) != len(sent) {
			t.Fatalf("resumed %d messages, want %d: %+v", len(got), len(sent), got)
		}
		for i, m := range got {
			if m.Message != sent[i] {
				t.Fatalf("message %d = %q, want %q", i, m.Message, sent[i])
			}
		}
		// The dead node's users go offline once its heartbeat expires.
		b2.Close()
		deadline := time.Now().Add(20 * time.Second)
		for {
			users, err := alice.AllUsers(ctx, au.ID, strings.TrimPrefix(strings.Split(bu.UserID, ":")[0], "@"), "", 5)
			if err == nil && len(users) == 1 && !users[0].Online {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("bob still online 20s after his node died: %+v %v", users, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

func TestClusterRedisRestart(t *testing.T) {
	c := startCluster(t)
	n1, n2 := c.nodes[0], c.nodes[1]
	ctx := ctxT(t)
	alice, _ := newUser(t, n1, "alice")
	bob, bu := newUser(t, n2, "bob")
	aconn := connect(t, alice, nil)
	bconn := connect(t, client.WithBase(bob, n2.URL()), nil)
	var acked []string
	if m, err := aconn.SendMsg(ctx, bu.UserID, "before", ""); err == nil {
		acked = append(acked, m.ID)
	} else {
		t.Fatal(err)
	}
	waitEvent(t, bconn, "msg-recieve", msgWith("before"))

	c.redis.Stop()
	for i := 0; i < 5; i++ {
		m, err := aconn.SendMsg(ctx, bu.UserID, fmt.Sprintf("during %d", i), "")
		if err != nil {
			t.Fatalf("send while Redis is down must still be stored and acked: %v", err)
		}
		acked = append(acked, m.ID)
	}
	c.redis.Start()

	// Live delivery comes back by itself: keep sending until one arrives live.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		text := fmt.Sprintf("after %d", i)
		m, err := aconn.SendMsg(ctx, bu.UserID, text, "")
		if err == nil {
			acked = append(acked, m.ID)
		}
		if found := waitQuietly(bconn, text, time.Second); found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("live delivery did not come back after Redis restarted")
		}
	}
	history, err := bob.GetMsg(ctx, client.GetMsgRequest{To: mustMe(t, alice).UserID, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range acked {
		if !hasID(history, id) {
			t.Fatalf("acknowledged message %s is missing", id)
		}
	}
}

func mustMe(t *testing.T, c *client.Client) *client.User {
	t.Helper()
	u, err := c.Me(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// waitQuietly reports whether a msg-recieve with text arrives within d.
func waitQuietly(conn *client.Conn, text string, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-conn.Events():
			if !ok {
				return false
			}
			if ev.Name == "msg-recieve" && msgWith(text)(ev.Data) {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

func TestClusterMongoDown(t *testing.T) {
	c := startCluster(t)
	n1 := c.nodes[0]
	ctx := ctxT(t)
	alice, _ := newUser(t, n1, "alice")
	_, bu := newUser(t, n1, "bob")
	aconn := connect(t, alice, nil)
	if _, err := alice.AddMsg(ctx, bu.UserID, "before", ""); err != nil {
		t.Fatal(err)
	}
	c.mongo.Stop()
	start := time.Now()
	_, err := alice.AddMsg(ctx, bu.UserID, "while down", "")
	apiErr(t, err, 503, "CT_UNAVAILABLE")
	if time.Since(start) > 20*time.Second {
		t.Fatalf("a send hung %s while MongoDB was down", time.Since(start))
	}
	_, err = aconn.SendMsg(ctx, bu.UserID, "ws while down", "")
	apiErr(t, err, 503, "CT_UNAVAILABLE")
	c.mongo.Start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := alice.AddMsg(ctx, bu.UserID, "after", ""); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sends did not recover after MongoDB came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := aconn.SendMsg(ctx, bu.UserID, "ws after", ""); err != nil {
		t.Fatalf("socket unusable after the outage: %v", err)
	}
}

// TestRedisCarriesNoPlaintext watches every Redis command (MONITOR) during
// a conversation across two nodes.
func TestRedisCarriesNoPlaintext(t *testing.T) {
	c := startCluster(t)
	mon, err := net.Dial("tcp", c.redis.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	fmt.Fprint(mon, "MONITOR\r\n")
	var mu sync.Mutex
	var traffic bytes.Buffer
	go func() {
		r := bufio.NewReader(mon)
		for {
			line, err := r.ReadBytes('\n')
			mu.Lock()
			traffic.Write(line)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	n1, n2 := c.nodes[0], c.nodes[1]
	ctx := ctxT(t)
	alice, au := newUser(t, n1, "alice")
	bob, bu := newUser(t, n2, "bob")
	aconn := connect(t, alice, nil)
	bconn := connect(t, client.WithBase(bob, n2.URL()), nil)
	const marker = "REDIS-PLAINTEXT-MARKER-9e1d"
	for i := 0; i < 5; i++ {
		if _, err := aconn.SendMsg(ctx, bu.UserID, marker+" a", ""); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, bconn, "msg-recieve", msgWith(marker+" a"))
		if _, err := bconn.SendMsg(ctx, au.UserID, marker+" b", ""); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, aconn, "msg-recieve", msgWith(marker+" b"))
	}
	time.Sleep(200 * time.Millisecond) // let MONITOR's last lines arrive; there is no event for that
	mu.Lock()
	defer mu.Unlock()
	if traffic.Len() == 0 || !strings.Contains(strings.ToLower(traffic.String()), "\"publish\"") {
		t.Fatalf("MONITOR saw no PUBLISH: the test watched nothing (%d bytes)", traffic.Len())
	}
	for _, needle := range []string{marker, alice.Token, bob.Token} {
		if strings.Contains(traffic.String(), needle) {
			t.Fatalf("Redis saw %q", needle[:10])
		}
	}
}
