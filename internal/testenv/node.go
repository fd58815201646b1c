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
	"strings"
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

// RaceEnv is the environment switch that makes the nodes StartNode runs
// use a crypttalkd built with -race: `make test` sets it, so the
// real-binary tests also catch data races in the server, not only in the
// test process, and a race report fails the test (see Node.RaceReports).
// It is off by default because a -race server is several times slower;
// Binary (ctl, ctws, the load tool's server) stays a plain build.
const RaceEnv = "CRYPTTALK_TEST_RACE"

// raceBinaries reports whether RaceEnv asks for a -race server.
func raceBinaries() bool {
	v := os.Getenv(RaceEnv)
	return v != "" && v != "0" && v != "false"
}

// Binary builds a command of this module once per test process and
// returns the path of the executable (name: "crypttalkd", "ctl", ...).
func Binary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "crypttalk-bin-")
		if buildErr == nil {
			buildErr = goBuild("build", "-o", buildDir+string(os.PathSeparator), "./cmd/...")
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, name)
}

var (
	raceOnce sync.Once
	raceBin  string
	raceErr  error
)

// serverBinary is the crypttalkd a Node runs: built with -race when
// RaceEnv is set, else Binary's.
func serverBinary(t testing.TB) string {
	t.Helper()
	if !raceBinaries() {
		return Binary(t, "crypttalkd")
	}
	raceOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crypttalk-race-bin-")
		if err != nil {
			raceErr = err
			return
		}
		raceBin = filepath.Join(dir, "crypttalkd")
		raceErr = goBuild("build", "-race", "-o", raceBin, "./cmd/crypttalkd")
	})
	if raceErr != nil {
		t.Fatal(raceErr)
	}
	return raceBin
}

// goBuild runs the go command in the module root.
func goBuild(args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %v\n%s", args, err, out)
	}
	return nil
}

// raceMarker starts every report of the race detector.
const raceMarker = "WARNING: DATA RACE"

// raceReport returns the race detector's reports in logs, at most limit
// bytes of them, or "" if there is none.
func raceReport(logs string, limit int) string {
	i := strings.Index(logs, raceMarker)
	if i < 0 {
		return ""
	}
	// The report starts with a line of '=' just before the marker.
	if j := strings.LastIndex(logs[:i], "=================="); j >= 0 && i-j < 100 {
		i = j
	}
	r := logs[i:]
	if len(r) > limit {
		r = r[:limit] + "\n[... cut]"
	}
	return r
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// handedOut holds the ports FreePort gave this process: the kernel may
// offer a port again once its listener is closed, and two callers that
// got the same one (a node's listen and admin addresses, say) would clash.
var handedOut sync.Map

// FreePort returns a loopback address with a port that was free a moment
// ago and that no earlier call of this process returned.
func FreePort(t testing.TB) string {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, taken := handedOut.LoadOrStore(addr, true); !taken {
			return addr
		}
	}
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

	// races keeps the race reports of earlier runs of this node, since
	// each Start begins a new log.
	racesMu sync.Mutex
	races   []string
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
	t.Cleanup(func() { n.finish(t) })
	return n
}

// finish kills the process at the end of the test and fails the test if
// the race detector reported anything.
func (n *Node) finish(t testing.TB) {
	n.Kill()
	if r := n.RaceReports(); r != "" {
		t.Errorf("crypttalkd %s: the race detector reported a data race:\n%s", n.Addr, r)
	}
	if t.Failed() {
		t.Logf("crypttalkd %s log:\n%s", n.Addr, n.Logs())
	}
}

// RaceReports returns the race detector's reports printed by every run of
// the node so far ("" if none, or if the binary was built without -race).
// StartNode fails the test at its end when there is one.
func (n *Node) RaceReports() string {
	n.racesMu.Lock()
	defer n.racesMu.Unlock()
	return strings.Join(n.races, "\n")
}

// noteRaces keeps the race reports of a run that has ended.
func (n *Node) noteRaces(logs string) {
	if r := raceReport(logs, 16<<10); r != "" {
		n.racesMu.Lock()
		n.races = append(n.races, r)
		n.racesMu.Unlock()
	}
}

// Start (re)starts the process on the same address and data dir.
func (n *Node) Start() {
	n.t.Helper()
	n.logs = &syncBuffer{}
	n.cmd = exec.Command(serverBinary(n.t), "serve")
	n.cmd.Env = append(os.Environ(),
		"CRYPTTALK_LISTEN="+n.Addr,
		"CRYPTTALK_DATA_DIR="+n.DataDir,
		"CRYPTTALK_BCRYPT_COST=4",
		"CRYPTTALK_LOG_LEVEL=debug",
	)
	if raceBinaries() && os.Getenv("GORACE") == "" {
		// Report every race, not only the first, and skip the race
		// runtime's 1 s sleep at exit that would slow every Stop.
		n.cmd.Env = append(n.cmd.Env, "GORACE=halt_on_error=0 atexit_sleep_ms=50")
	}
	n.cmd.Env = append(n.cmd.Env, n.Env...)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.exited = make(chan struct{})
	cmd, logs, exited := n.cmd, n.logs, n.exited
	go func() {
		_ = cmd.Wait() // returns once the process's output is all in logs
		n.noteRaces(logs.String())
		close(exited)
	}()
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
