package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// server is a crypttalkd the tool started.
type server struct {
	cmd *exec.Cmd
	url string
	dir string
}

func findServer(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), "crypttalkd"); fileExists(p) {
			return p, nil
		}
	}
	return exec.LookPath("crypttalkd")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// startServer runs crypttalkd with cheap bcrypt and no rate limits (the
// tool registers many users from one address) on a free loopback port.
func startServer(ctx context.Context, bin string, env []string) (*server, error) {
	bin, err := findServer(bin)
	if err != nil {
		return nil, fmt.Errorf("crypttalkd not found (use -server-bin): %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	dir, err := os.MkdirTemp("", "ctbench-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"CRYPTTALK_LISTEN="+addr, "CRYPTTALK_DATA_DIR="+dir, "CRYPTTALK_BCRYPT_COST=4", "CRYPTTALK_LOG_LEVEL=warn",
		"CRYPTTALK_RATELIMIT_REGISTER_PER_IP_COUNT=0", "CRYPTTALK_RATELIMIT_LOGIN_PER_IP_COUNT=0", "CRYPTTALK_RATELIMIT_LOGIN_PER_USER_COUNT=0",
		"CRYPTTALK_LIMITS_WS_SEND_QUEUE=4096")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, url: "http://" + addr, dir: dir}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.stop()
	return nil, fmt.Errorf("crypttalkd did not become ready")
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
	}
	_ = os.RemoveAll(s.dir)
}

// raiseFileLimit lets the tool (and the server it starts) hold many sockets.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
