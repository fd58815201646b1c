package testenv

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Binary builds a command of this module once per test process and
// returns the path of the executable (name: "crypttalkd", "ctl", ...).
func Binary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "crypttalk-bin-")
		if buildErr != nil {
			return
		}
		root := moduleRoot()
		cmd := exec.Command("go", "build", "-o", buildDir+string(os.PathSeparator), "./cmd/...")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/...: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, name)
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// FreePort returns a loopback address with a port that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Node is a crypttalkd process on a loopback port.
type Node struct {
	t       testing.TB
	Addr    string
	DataDir string
	Env     []string
	cmd     *exec.Cmd
	logs    *syncBuffer
	exited  chan struct{}
}

// NodeConfig describes a node to start.
type NodeConfig struct {
	DataDir string   // default: a new temp dir
	Env     []string // extra CRYPTTALK_* variables
}

// StartNode starts crypttalkd and waits until /readyz answers 200. The
// process is killed at the end of the test.
func StartNode(t testing.TB, c NodeConfig) *Node {
	t.Helper()
	if c.DataDir == "" {
		c.DataDir = t.TempDir()
	}
	n := &Node{t: t, Addr: FreePort(t), DataDir: c.DataDir, Env: c.Env}
	n.Start()
	t.Cleanup(func() {
		n.Kill()
		if t.Failed() {
			t.Logf("crypttalkd %s log:\n%s", n.Addr, n.Logs())
		}
	})
	return n
}

// Start (re)starts the process on the same address and data dir.
func (n *Node) Start() {
	n.t.Helper()
	n.logs = &syncBuffer{}
	n.cmd = exec.Command(Binary(n.t, "crypttalkd"), "serve")
	n.cmd.Env = append(os.Environ(),
		"CRYPTTALK_LISTEN="+n.Addr,
		"CRYPTTALK_DATA_DIR="+n.DataDir,
		"CRYPTTALK_BCRYPT_COST=4",
		"CRYPTTALK_LOG_LEVEL=debug",
	)
	n.cmd.Env = append(n.cmd.Env, n.Env...)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	n.WaitReady(30 * time.Second)
}

// URL is the node's base URL.
func (n *Node) URL() string { return "http://" + n.Addr }

// WaitReady polls /readyz until it answers 200.
func (n *Node) WaitReady(limit time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			n.t.Fatalf("crypttalkd exited during start:\n%s", n.Logs())
		default:
		}
		resp, err := http.Get(n.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.t.Fatalf("crypttalkd not ready after %s:\n%s", limit, n.Logs())
}

// Stop sends SIGTERM and waits for a clean exit.
func (n *Node) Stop() {
	n.t.Helper()
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		n.t.Fatalf("crypttalkd did not stop within 20s:\n%s", n.Logs())
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		n.t.Errorf("crypttalkd exited with %d after SIGTERM:\n%s", code, n.Logs())
	}
}

// Kill ends the process at once (kill -9).
func (n *Node) Kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// Logs returns what the process printed.
func (n *Node) Logs() string { return n.logs.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
