package testenv

import (
	"net"
	"runtime"
	"strings"
	"testing"
)

func TestStartRedisStopStart(t *testing.T) {
	s := StartRedis(t)
	if err := redisPing(s.Addr()); err != nil {
		t.Fatalf("PING after start: %v", err)
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	if host, _, _ := net.SplitHostPort(s.Addr()); host != "127.0.0.1" {
		t.Errorf("Addr() = %q, want a loopback address", s.Addr())
	}
	addr := s.Addr()
	s.Stop()
	if err := redisPing(addr); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Stop() // idempotent
	s.Start()
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want the same address %s", s.Addr(), addr)
	}
	if err := redisPing(addr); err != nil {
		t.Fatalf("PING after restart: %v", err)
	}
}

func TestRedisPingRejectsOtherServers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("-ERR not redis\r\n"))
	}()
	if err := redisPing(ln.Addr().String()); err == nil || !strings.Contains(err.Error(), "not redis") {
		t.Fatalf("redisPing to a non-PONG server = %v, want an unexpected-reply error", err)
	}
}

// outcomeTB records how a harness function ended the test instead of
// ending the real one.
type outcomeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (o *outcomeTB) Skipf(format string, args ...any) {
	o.skipped, o.msg = true, format
	runtime.Goexit()
}

func (o *outcomeTB) Fatalf(format string, args ...any) {
	o.failed, o.msg = true, format
	runtime.Goexit()
}

func runWithOutcome(t *testing.T, f func(testing.TB)) *outcomeTB {
	o := &outcomeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(o)
	}()
	<-done
	return o
}

func TestStartRedisMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Run("local skips loudly", func(t *testing.T) {
		t.Setenv("CI", "")
		o := runWithOutcome(t, func(tb testing.TB) { StartRedis(tb) })
		if !o.skipped || o.failed || !strings.Contains(o.msg, "SKIPPING") {
			t.Fatalf("skipped=%v failed=%v msg=%q, want a loud skip", o.skipped, o.failed, o.msg)
		}
	})
	t.Run("CI fails", func(t *testing.T) {
		t.Setenv("CI", "true")
		o := runWithOutcome(t, func(tb testing.TB) { StartRedis(tb) })
		if !o.failed || o.skipped {
			t.Fatalf("skipped=%v failed=%v, want a failure under CI=true", o.skipped, o.failed)
		}
	})
}
