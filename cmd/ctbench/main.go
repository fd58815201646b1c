// Command ctbench is Crypt-Talk's load generator. It drives users over real
// WebSocket connections against servers on this machine (-url, a
// comma-separated list: users are spread across the nodes), or starts
// crypttalkd itself on a temp dir and a free port (-start) and then also
// reports the server's peak RSS and CPU seconds.
//
//	ctbench -start -pin 1,0 -scenario max -users 200 -duration 20s -json
//	ctbench -url http://127.0.0.1:5000,http://127.0.0.1:5001 -scenario chat -rate 1000
//	taskset -c 1 ctbench -url http://127.0.0.1:5000 -server-pid $(pgrep -n crypttalkd) -scenario max
//
// It reports the CPU per acknowledged message of the server and of itself
// over the measured window (server_cpu_us_per_msg, tool_cpu_us_per_msg):
// the server's from /proc (-start, -server-pid) or from its /metrics
// (-metrics), its own from getrusage. -pin TOOL[,SERVER] puts the tool (and
// the server it starts or names) on given CPUs, so they do not share one.
//
// Scenarios: chat (pairs talking, -rate messages/s in total), max (every
// sender keeps -window requests in flight), idle (connections only; server
// RSS per connection), reconnect (every client drops at once and resumes
// with since; its latencies include the replayed messages) and history
// (page through a long conversation; its latencies are those of one page).
//
// Every message carries its sender's index, the sender's own message number
// and the send time, so the tool measures delivery latency and counts lost
// and duplicated messages per sender and recipient device. Users get a random
// run prefix, so runs never collide. ctbench only talks to loopback
// addresses and stops by itself: setup is bounded by -timeout, traffic by
// -warmup plus -duration.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() { os.Exit(ctbench(os.Args[1:])) }

// ctbench runs the tool and returns its exit code: 2 for a bad command
// line, 1 when the run failed (its report, if any, is printed first).
func ctbench(args []string) int {
	cfg, err := parseFlags(args, os.Stderr)
	if err != nil {
		return 2
	}
	if cfg.pin.tool >= 0 {
		if err := pinSelf(cfg.pin.tool); err != nil {
			fmt.Fprintln(os.Stderr, "ctbench:", err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.cpuProf != "" {
		stopProf, err := startCPUProfile(cfg.cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ctbench:", err)
			return 1
		}
		defer stopProf()
	}
	rep, err := run(ctx, cfg, progressOut(os.Stdout))
	if rep.Scenario != "" { // the scenario ran, maybe cut short: show what it found
		if werr := writeReport(os.Stdout, rep, cfg.jsonOut); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctbench:", err)
		return 1
	}
	return 0
}

// startCPUProfile profiles the tool into path until the returned func runs.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// progressOut returns w when it is a terminal, else nil (no progress line).
func progressOut(f *os.File) io.Writer {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}

// writeReport prints the report as one JSON object or as text.
func writeReport(w io.Writer, r Report, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("scenario %s: %d users x %d devices (%d connections), %.1fs measured",
		r.Scenario, r.Users, r.Devices, r.Connections, r.DurationS)
	p("  acked      %d (%.0f/s)", r.Acked, r.AckedPerSec)
	p("  delivered  %d (%.0f/s)", r.Delivered, r.DeliveredPerSec)
	p("  latency    p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms", r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	p("  lost %d  duplicated %d  errors %d %v", r.Lost, r.Duplicated, r.ErrorsTotal, r.Errors)
	if r.ServerCPUUsPerMsg > 0 || r.ToolCPUUsPerMsg > 0 {
		p("  CPU/msg    server %.1fµs  tool %.1fµs (measured window only)", r.ServerCPUUsPerMsg, r.ToolCPUUsPerMsg)
	}
	if r.ServerRSSBytes > 0 {
		p("  server     peak RSS %.1f MiB, CPU %.1fs", float64(r.ServerRSSBytes)/(1<<20), r.ServerCPUSeconds)
	}
	if r.RSSPerConnBytes > 0 {
		p("  RSS per connection %.1f KiB", float64(r.RSSPerConnBytes)/1024)
	}
	if r.PagesPerSec > 0 {
		p("  history    %.0f pages/s", r.PagesPerSec)
	}
	if r.Resumed > 0 {
		p("  resumed    %d connections in %.0fms", r.Resumed, r.ResumeMs)
	}
	return nil
}
