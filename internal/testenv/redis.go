package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// redisStartLimit bounds how long a redis-server may take to answer PING.
const redisStartLimit = 10 * time.Second

// RedisServer is a real redis-server process on a loopback port, without
// persistence: a restart loses every key, as a crashed production Redis
// without AOF would.
type RedisServer struct {
	t      testing.TB
	bin    string
	addr   string
	dir    string
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
}

// MissingService reports that a service a test needs is not installed: a
// loud skip on a developer machine, a failure when CI=true, because in CI a
// skipped service test would hide that the service never ran.
func MissingService(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and a required test service is missing: "+format, args...)
	}
	t.Skipf("SKIPPING (service missing, this test did NOT run): "+format, args...)
}

// StartRedis starts redis-server in t.TempDir() on a free loopback port,
// waits until it answers PING and kills it when the test ends.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		MissingService(t, "redis-server not found in PATH (%v); install the Debian package redis-server or run `make deps`", err)
		return nil
	}
	s := &RedisServer{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() && s.logs != nil {
			t.Logf("redis-server %s log:\n%s", s.addr, s.logs.String())
		}
	})
	// The port was free when FreePort closed its listener; another process
	// may take it before redis-server binds, so try a few ports.
	for attempt := 0; ; attempt++ {
		s.addr = FreePort(t)
		if s.start() {
			return s
		}
		if attempt == 2 {
			t.Fatalf("redis-server did not start:\n%s", s.logs.String())
		}
	}
}

// Addr is the server's host:port.
func (s *RedisServer) Addr() string { return s.addr }

// URL is the redis:// URL of database 0.
func (s *RedisServer) URL() string { return "redis://" + s.addr + "/0" }

// Start restarts a stopped server on the same port, with an empty dataset.
func (s *RedisServer) Start() {
	s.t.Helper()
	if s.running() {
		s.t.Fatalf("redis-server %s is already running", s.addr)
	}
	if !s.start() {
		s.t.Fatalf("redis-server did not restart on %s:\n%s", s.addr, s.logs.String())
	}
}

// Stop kills the server at once (kill -9) and waits for it to exit; a
// stopped server can be started again with Start. Stop is idempotent.
func (s *RedisServer) Stop() {
	if !s.running() {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
}

func (s *RedisServer) running() bool {
	if s.exited == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// start launches the process and reports whether it answered PING; a
// process that exited (port taken) or never answered is killed.
func (s *RedisServer) start() bool {
	_, port, _ := net.SplitHostPort(s.addr)
	s.logs = &syncBuffer{}
	s.cmd = exec.Command(s.bin,
		"--port", port,
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	)
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.exited = make(chan struct{})
	cmd, exited := s.cmd, s.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(redisStartLimit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if redisPing(s.addr) == nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return false
}

// redisPing speaks just enough RESP to ask PING, so the harness does not
// depend on the client library under test.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected PING reply %q", strings.TrimSpace(line))
	}
	return nil
}
