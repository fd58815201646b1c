package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverDefaults is the environment ctbench gives a crypttalkd it starts,
// before -server-env: cheap bcrypt (the tool registers thousands of users),
// no register, login or send limits (all of them come from one address, and the tool measures the server, not the limiter), quiet
// logs, a send queue big enough that the tool, which shares the CPU
// with the server, is not cut as a slow consumer in max runs, and socket
// caps and frame budgets out of the way (thousands of sockets from one
// address, max runs as fast as acks come).
var serverDefaults = []string{
	"CRYPTTALK_BCRYPT_COST=4",
	"CRYPTTALK_LOG_LEVEL=warn",
	"CRYPTTALK_RATELIMIT_REGISTER_PER_IP_COUNT=0",
	"CRYPTTALK_RATELIMIT_LOGIN_PER_IP_COUNT=0",
	"CRYPTTALK_RATELIMIT_LOGIN_PER_USER_COUNT=0",
	"CRYPTTALK_RATELIMIT_SEND_PER_USER_COUNT=0",
	"CRYPTTALK_LIMITS_WS_SEND_QUEUE=4096",
	"CRYPTTALK_LIMITS_WS_PENDING_PER_IP=1000000",
	"CRYPTTALK_LIMITS_WS_SOCKETS_PER_USER=1000",
	"CRYPTTALK_LIMITS_WS_FRAME_RATE=1000000",
	"CRYPTTALK_LIMITS_WS_FRAME_BURST=1000000",
}

// server is a crypttalkd the tool started on a temp data dir.
type server struct {
	cmd    *exec.Cmd
	url    string
	dir    string
	log    *tailBuffer // its output, shown only when it fails
	exited chan struct{}
}

// logTail is how much of the server's output the tool keeps.
const logTail = 16 << 10

// tailBuffer keeps the last logTail bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - logTail; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// findServer picks the binary: -server-bin, else crypttalkd next to
// ctbench, else crypttalkd on PATH.
func findServer(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "crypttalkd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath("crypttalkd")
}

// startServer runs `crypttalkd serve` on a free loopback port and waits
// until /readyz answers 200.
func startServer(ctx context.Context, bin string, env []string) (*server, error) {
	bin, err := findServer(bin)
	if err != nil {
		return nil, fmt.Errorf("crypttalkd not found (use -server-bin): %w", err)
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ctbench-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "CRYPTTALK_LISTEN="+addr, "CRYPTTALK_DATA_DIR="+dir)
	cmd.Env = append(append(cmd.Env, serverDefaults...), env...)
	s := &server{cmd: cmd, url: "http://" + addr, dir: dir, log: &tailBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(ctx, 30*time.Second); err != nil {
		_ = s.stop()
		return nil, fmt.Errorf("%w; its output ends:\n%s", err, s.log)
	}
	return s, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls /readyz until it answers 200, the process exits or the
// time is up.
func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("crypttalkd exited before it was ready: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("crypttalkd not ready within %v: %w", limit, ctx.Err())
		case <-tick.C:
		}
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop asks the server to shut down, kills it if it takes more than 10 s,
// and removes its data dir. It reports a server that had died by itself.
func (s *server) stop() error {
	var died error
	select {
	case <-s.exited:
		died = fmt.Errorf("crypttalkd died during the run (%v); its output ends:\n%s", s.cmd.ProcessState, s.log)
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	_ = os.RemoveAll(s.dir)
	return died
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// errNoProc is returned when a process's /proc entry cannot be read.
var errNoProc = errors.New("process not readable in /proc")

// procUsage is one reading of a process's memory and CPU.
type procUsage struct {
	rss, peakRSS int64   // bytes
	cpuSeconds   float64 // user + system
}

// readProc reads /proc/<pid>/status and /proc/<pid>/stat.
func readProc(pid int) (procUsage, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procUsage{}, fmt.Errorf("%w: %v", errNoProc, err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUsage{}, fmt.Errorf("%w: %v", errNoProc, err)
	}
	u := procUsage{rss: statusBytes(string(status), "VmRSS"), peakRSS: statusBytes(string(status), "VmHWM")}
	u.cpuSeconds, err = statCPU(string(stat))
	return u, err
}

// statusBytes reads a "Field:   1234 kB" line of /proc/<pid>/status.
func statusBytes(status, field string) int64 {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 2 && f[1] == "kB" {
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// statCPU reads utime + stime from /proc/<pid>/stat. The command name in
// parentheses may hold spaces and parentheses, so fields are counted from
// the last ')'.
func statCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat %.60q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// After the name: state(0) ppid(1) ... utime(11) stime(12).
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc stat %.60q", stat)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc stat %.60q", stat)
	}
	return float64(ut+st) / clockTicks, nil
}

// raiseFileLimit lifts the soft open-files limit to the hard one, so the
// tool (and a server it starts, which inherits it) can hold many sockets.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
