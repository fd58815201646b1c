package redis

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/pubsub/bustest"
)

// partitionProxy forwards TCP to a Redis server and can silently drop all
// traffic while keeping connections open, as a network partition does:
// no RST, no FIN, just silence.
type partitionProxy struct {
	ln       net.Listener
	upstream string
	dropping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startProxy(t *testing.T, upstream string) *partitionProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &partitionProxy{ln: ln, upstream: upstream}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *partitionProxy) URL() string { return "redis://" + p.ln.Addr().String() + "/0" }

func (p *partitionProxy) accept() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			_ = down.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(up, down) })
		p.wg.Go(func() { p.pipe(down, up) })
	}
}

// pipe copies src to dst, discarding what arrives while partitioned, and
// closes both when either side closes.
func (p *partitionProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.dropping.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestPartitionDetectedByHealthCheck checks that a subscriber connection
// that stays open but carries nothing is detected by the PING health check
// and replaced once the network heals.
func TestPartitionDetectedByHealthCheck(t *testing.T) {
	srv := testenv.StartRedis(t)
	proxy := startProxy(t, srv.Addr())
	c := newCluster(t, srv, Options{healthEvery: 100 * time.Millisecond})
	a := c.node(t)
	b := nodeAt(t, proxy.URL(), c.opts)
	var reconnects atomic.Int32
	b.OnReconnect(func() { reconnects.Add(1) })
	var in bustest.Inbox
	bustest.Subscribe(t, b, "room", &in)
	bustest.Publish(t, a, "room", "before")
	in.WaitLen(t, 1)

	proxy.dropping.Store(true)
	bustest.WaitFor(t, "the health check to notice the partition", func() bool { return !b.subs.up() })
	proxy.dropping.Store(false)
	bustest.WaitFor(t, "events to flow again", func() bool {
		_ = a.Publish(context.Background(), "room", []byte("after"))
		got := in.Got()
		return got[len(got)-1] == "after"
	})
	bustest.WaitFor(t, "the OnReconnect hook", func() bool { return reconnects.Load() == 1 })
}

// TestIdleSubscriberStaysConnected checks that health-check PINGs on a
// quiet but healthy connection never count as a failure.
func TestIdleSubscriberStaysConnected(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := newCluster(t, srv, Options{healthEvery: 20 * time.Millisecond})
	b := c.node(t)
	var reconnects atomic.Int32
	b.OnReconnect(func() { reconnects.Add(1) })
	var in bustest.Inbox
	bustest.Subscribe(t, b, "quiet", &in)
	subConn := func() string {
		for _, line := range strings.Split(admin(t, srv).ClientList(context.Background()).Val(), "\n") {
			if strings.Contains(line, " sub=1 ") {
				return strings.Fields(line)[0] // id=N
			}
		}
		return ""
	}
	before := subConn()
	pings := func() int64 {
		var calls int64
		info := admin(t, srv).Info(context.Background(), "commandstats").Val()
		for _, line := range strings.Split(info, "\n") {
			if rest, ok := strings.CutPrefix(line, "cmdstat_ping:calls="); ok {
				_, _ = fmt.Sscan(strings.Split(rest, ",")[0], &calls)
			}
		}
		return calls
	}
	bustest.WaitFor(t, "several health-check pings", func() bool { return pings() >= 6 })
	if reconnects.Load() != 0 || subConn() != before || before == "" {
		t.Fatalf("healthy idle connection replaced: reconnects=%d, connection %q -> %q", reconnects.Load(), before, subConn())
	}
	bustest.Publish(t, b, "quiet", "still here")
	in.WaitLen(t, 1)
}
