package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/bustest"
)

// testPrefixes makes every cluster of the tests unique on a shared Redis.
var testPrefixes atomic.Int64

// logWriter sends the bus's logs to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// cluster starts nodes that share one Redis and one key prefix.
type cluster struct {
	srv    *testenv.RedisServer
	prefix string
	opts   Options
}

func newCluster(t testing.TB, srv *testenv.RedisServer, opts Options) *cluster {
	opts.Prefix = fmt.Sprintf("t%d:", testPrefixes.Add(1))
	return &cluster{srv: srv, prefix: opts.Prefix, opts: opts}
}

// node starts a node of the cluster, closed at the end of the test.
func (c *cluster) node(t testing.TB) *Bus {
	t.Helper()
	return nodeAt(t, c.srv.URL(), c.opts)
}

// nodeAt starts a node on the Redis at url, closed at the end of the test.
func nodeAt(t testing.TB, url string, opts Options) *Bus {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := New(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// admin is a plain client for looking at Redis from the outside.
func admin(t testing.TB, srv *testenv.RedisServer) *goredis.Client {
	opts, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	srv := testenv.StartRedis(t)
	var mu sync.Mutex
	clusters := make(map[*testing.T]*cluster)
	bustest.Run(t, func(t *testing.T) pubsub.Bus {
		mu.Lock()
		c := clusters[t]
		if c == nil {
			c = newCluster(t, srv, Options{})
			clusters[t] = c
		}
		mu.Unlock()
		return c.node(t)
	})
}

func TestOneRedisSubscriptionPerTopicPerNode(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := newCluster(t, srv, Options{})
	a, b := c.node(t), c.node(t)
	numsub := func(topic string) int64 {
		t.Helper()
		m, err := admin(t, srv).PubSubNumSub(context.Background(), c.prefix+"topic:"+topic).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m[c.prefix+"topic:"+topic]
	}
	var in bustest.Inbox
	var subsA []pubsub.Subscription
	for range 3 {
		subsA = append(subsA, bustest.Subscribe(t, a, "room", &in))
	}
	subB := bustest.Subscribe(t, b, "room", &in)
	bustest.Subscribe(t, b, "room", &in)
	if n := numsub("room"); n != 2 {
		t.Fatalf("PUBSUB NUMSUB = %d with 5 handlers on 2 nodes, want 2 (one per node)", n)
	}
	bustest.Publish(t, a, "room", "x")
	in.WaitLen(t, 5)
	_ = subB.Close()
	if n := numsub("room"); n != 2 {
		t.Fatalf("NUMSUB = %d after one of two handlers left node b, want 2", n)
	}
	for _, s := range subsA {
		_ = s.Close()
	}
	bustest.WaitFor(t, "node a to unsubscribe", func() bool { return numsub("room") == 1 })
}

func TestRedisRestart(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := newCluster(t, srv, Options{PresenceTTL: time.Second, healthEvery: 200 * time.Millisecond})
	a, b := c.node(t), c.node(t)
	var reconnects atomic.Int32
	b.OnReconnect(func() { reconnects.Add(1) })
	var in bustest.Inbox
	bustest.Subscribe(t, b, "room", &in)
	bustest.Publish(t, a, "room", "before")
	in.WaitLen(t, 1)
	if was, err := a.Presence().Connect(context.Background(), "alice"); err != nil || !was {
		t.Fatalf("Connect = %v, %v", was, err)
	}

	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Publish(ctx, "room", []byte("lost")); err == nil || ctx.Err() != nil {
		t.Fatalf("Publish with Redis down = %v (ctx %v), want a Redis error before the deadline", err, ctx.Err())
	}
	// A user connecting during the outage is counted and written later.
	if _, err := a.Presence().Connect(ctx, "bob"); err == nil {
		t.Fatal("Connect with Redis down reported no error")
	}
	bustest.WaitFor(t, "node b to notice the outage", func() bool { return !b.subs.up() })
	if err := b.Ping(ctx); err == nil {
		t.Fatal("Ping with Redis down reported no error")
	}
	if _, err := b.Subscribe(ctx, "other", new(bustest.Inbox).Handler()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Subscribe with Redis down = %v, want ErrUnavailable", err)
	}

	srv.Start() // empty: Redis lost every key and subscription
	bustest.WaitFor(t, "events to flow again", func() bool {
		_ = a.Publish(ctx, "room", []byte("after"))
		got := in.Got()
		return got[len(got)-1] == "after"
	})
	bustest.WaitFor(t, "the OnReconnect hook", func() bool { return reconnects.Load() > 0 })
	bustest.WaitFor(t, "presence to be written again", func() bool {
		m, err := b.Presence().Online(ctx, []string{"alice", "bob"})
		return err == nil && m["alice"] && m["bob"]
	})
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	for _, got := range in.Got() {
		if got == "lost" {
			t.Fatal("an event published while Redis was down was delivered")
		}
	}
}

func TestPresenceExpiresWhenHeartbeatStops(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := newCluster(t, srv, Options{PresenceTTL: time.Second})
	a, b := c.node(t), c.node(t)
	ctx := context.Background()
	for _, u := range []string{"alice", "carol"} {
		if _, err := a.Presence().Connect(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Presence().Connect(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	// Heartbeats keep users online past the TTL: watch the TTL of a's set
	// jump back up four times (more than one TTL of heartbeats).
	key := c.prefix + "pres:node:" + a.NodeID()
	prev, beats := admin(t, srv).PTTL(ctx, key).Val(), 0
	bustest.WaitFor(t, "four heartbeats", func() bool {
		cur := admin(t, srv).PTTL(ctx, key).Val()
		if cur > prev {
			beats++
		}
		prev = cur
		return beats >= 4
	})
	if m, _ := b.Presence().Online(ctx, []string{"alice"}); !m["alice"] {
		t.Fatal("alice went offline although her node heartbeats")
	}

	a.presence.stopHeartbeat() // as if node a was killed with kill -9
	bustest.WaitFor(t, "alice to go offline with her node", func() bool {
		m, err := b.Presence().Online(ctx, []string{"alice"})
		return err == nil && !m["alice"]
	})
	if m, _ := b.Presence().Online(ctx, []string{"carol"}); !m["carol"] {
		t.Fatal("carol is still connected to node b but went offline")
	}
	if was, err := b.Presence().Connect(ctx, "alice"); err != nil || !was {
		t.Fatalf("Connect(alice) on b after a died = %v, %v; want wasOffline", was, err)
	}
}

func TestHeartbeatRewritesLostPresence(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := newCluster(t, srv, Options{PresenceTTL: 300 * time.Millisecond})
	a, b := c.node(t), c.node(t)
	ctx := context.Background()
	if _, err := a.Presence().Connect(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := admin(t, srv).FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	bustest.WaitFor(t, "alice to be online again", func() bool {
		m, err := b.Presence().Online(ctx, []string{"alice"})
		return err == nil && m["alice"]
	})
	if off, err := a.Presence().Disconnect(ctx, "alice"); err != nil || !off {
		t.Fatalf("Disconnect = %v, %v; want nowOffline", off, err)
	}
}
