package redis

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/pubsub/bustest"
)

func TestNewRefusesBadConfig(t *testing.T) {
	ctx := context.Background()
	if _, err := New(ctx, "http://127.0.0.1:1", Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("New with an http URL: %v, want ErrInvalid", err)
	}
	if _, err := New(ctx, "redis://127.0.0.1:1/0", Options{PresenceTTL: time.Millisecond}); !errors.Is(err, ErrInvalid) {
		t.Errorf("New with a 1ms presence TTL: %v, want ErrInvalid", err)
	}
	// Nothing listens on a port that was just free: New fails, fast enough
	// that the deadline below is not what stops it.
	dead, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := New(dead, "redis://"+testenv.FreePort(t)+"/0", Options{}); err == nil || dead.Err() != nil {
		t.Errorf("New with nothing listening = %v (ctx %v), want a connection error", err, dead.Err())
	}
}

func TestDefaultsAndKeyLayout(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx := context.Background()
	b, err := New(ctx, srv.URL(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	other, err := New(ctx, srv.URL(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if b.NodeID() == "" || b.NodeID() == other.NodeID() {
		t.Fatalf("node ids %q and %q, want distinct random ids", b.NodeID(), other.NodeID())
	}
	if _, err := b.Presence().Connect(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Limiter().Allow(ctx, "ip", 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Locker().TryLease(ctx, "purge", time.Minute); err != nil {
		t.Fatal(err)
	}
	keys, err := admin(t, srv).Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"ct:pres:nodes": true, "ct:pres:node:" + b.NodeID(): true, "ct:rl:ip": true, "ct:lease:purge": true}
	for _, k := range keys {
		if !want[k] {
			t.Errorf("unexpected key %q", k)
		}
		delete(want, k)
	}
	if len(want) > 0 {
		t.Errorf("missing keys %v (have %v)", want, keys)
	}
	if ttl := admin(t, srv).PTTL(ctx, "ct:pres:node:"+b.NodeID()).Val(); ttl <= 0 || ttl > 10*time.Second {
		t.Errorf("presence set TTL %s, want the 10s default", ttl)
	}
}

// ourGoroutines lists the goroutines running code of this package or of
// go-redis.
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "crypttalk/pubsub/") || strings.Contains(g, "redis/go-redis") {
			if !strings.Contains(g, "ourGoroutines") {
				out = append(out, g)
			}
		}
	}
	return out
}

func TestCloseStopsGoroutines(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := newCluster(t, srv, Options{PresenceTTL: 300 * time.Millisecond})
	ctx := context.Background()
	for range 2 {
		b, err := New(ctx, srv.URL(), c.opts)
		if err != nil {
			t.Fatal(err)
		}
		var in bustest.Inbox
		bustest.Subscribe(t, b, "t", &in)
		bustest.Publish(t, b, "t", "x")
		in.WaitLen(t, 1)
		if _, err := b.Presence().Connect(ctx, "u"); err != nil {
			t.Fatal(err)
		}
		b.OnReconnect(func() {})
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for left := ourGoroutines(); len(left) > 0; left = ourGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after Close:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func BenchmarkPublishRedis(b *testing.B) {
	srv := testenv.StartRedis(b)
	bus := newCluster(b, srv, Options{}).node(b)
	ctx := context.Background()
	got := make(chan struct{}, 1)
	if _, err := bus.Subscribe(ctx, "bench", func(string, []byte) { got <- struct{}{} }); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 256)
	b.ReportAllocs()
	for b.Loop() {
		if err := bus.Publish(ctx, "bench", payload); err != nil {
			b.Fatal(err)
		}
		<-got
	}
}
