package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// CPU per message is the figure issue 14 targets: unlike msg/s it hardly
// depends on how busy the shared machine is. The tool samples the server's
// CPU (from /proc with a known pid, else from /metrics) and its own (from
// getrusage) when measuring starts and when it stops, so warm-up and drain
// are left out.

// cpuSample is one reading of both processes' CPU seconds; a negative
// field was not readable.
type cpuSample struct {
	server, tool float64
}

// cpuReader reads the server's CPU seconds so far.
type cpuReader func(ctx context.Context) (float64, error)

// serverCPUReader picks the source: /proc for a local pid, else the
// server's Prometheus /metrics (process_cpu_seconds_total), else none.
func serverCPUReader(pid func() int, metricsURL, token string) cpuReader {
	return func(ctx context.Context) (float64, error) {
		if p := pid(); p != 0 {
			u, err := readProc(p)
			return u.cpuSeconds, err
		}
		if metricsURL != "" {
			return fetchProcessCPU(ctx, metricsURL, token)
		}
		return 0, errors.New("no server pid and no -metrics URL")
	}
}

// sampleCPU reads both; what fails reads as -1 and yields no per-message
// figure.
func sampleCPU(ctx context.Context, server cpuReader) cpuSample {
	s := cpuSample{server: -1, tool: selfCPU()}
	if server != nil {
		if v, err := server(ctx); err == nil {
			s.server = v
		}
	}
	return s
}

// selfCPU is the tool's own user + system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// usPerMsg is the CPU microseconds per message between two readings, 0
// when either reading failed or nothing was acknowledged.
func usPerMsg(before, after float64, msgs int64) float64 {
	if before < 0 || after < before || msgs <= 0 {
		return 0
	}
	return math.Round((after-before)/float64(msgs)*1e6*10) / 10
}

// fetchProcessCPU reads process_cpu_seconds_total from a Prometheus text
// endpoint; token, if set, is sent as a bearer (the public listener's
// /metrics wants the admin token).
func fetchProcessCPU(ctx context.Context, url, token string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseProcessCPU(io.LimitReader(resp.Body, 8<<20))
}

// parseProcessCPU finds the process_cpu_seconds_total sample in Prometheus
// text exposition.
func parseProcessCPU(r io.Reader) (float64, error) {
	const name = "process_cpu_seconds_total"
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue // a comment, or another metric sharing the prefix
		}
		if rest != "" && rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return 0, fmt.Errorf("malformed sample %q", line)
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, fmt.Errorf("malformed sample %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("malformed sample %q", line)
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New(name + " not in the metrics")
}

// pinSpec is -pin TOOL[,SERVER]: the CPU for the tool, and the one for
// the server it starts or names with -server-pid (-1: leave it).
type pinSpec struct {
	tool, server int
}

func parsePin(s string) (pinSpec, error) {
	p := pinSpec{tool: -1, server: -1}
	if s == "" {
		return p, nil
	}
	toolS, serverS, two := strings.Cut(s, ",")
	var err error
	if p.tool, err = parseCPU(toolS); err != nil {
		return p, err
	}
	if two {
		if p.server, err = parseCPU(serverS); err != nil {
			return p, err
		}
		if p.server == p.tool {
			return p, errors.New("-pin: the tool and the server on the same CPU measure nothing useful")
		}
	}
	return p, nil
}

func parseCPU(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n >= 1024 {
		return 0, fmt.Errorf("-pin: %q is not a CPU number", s)
	}
	return n, nil
}

// pinnedEnv marks the re-executed, pinned tool.
const pinnedEnv = "CTBENCH_PINNED"

// pinSelf puts the whole tool on cpu. The affinity of a thread carries
// over execve, and Go's threads already running would each need their
// own call, so the tool pins its current thread and re-executes itself:
// every thread of the new image inherits the mask. It returns only on
// failure, or when this already is the pinned image.
func pinSelf(cpu int) error {
	if os.Getenv(pinnedEnv) == "1" {
		return nil
	}
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	self, err := os.Executable()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	err = syscall.Exec(self, os.Args, append(os.Environ(), pinnedEnv+"=1"))
	runtime.UnlockOSThread()
	return fmt.Errorf("re-exec pinned: %w", err)
}

// pinProcess puts every thread of pid on cpu. Threads it starts later
// inherit the mask of the thread that starts them; the task list is read
// twice so that one started during the first pass is caught too.
func pinProcess(pid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	for range 2 {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return fmt.Errorf("pin server: %w", err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("pin server thread %d to CPU %d: %w", tid, cpu, err)
			}
		}
	}
	return nil
}
