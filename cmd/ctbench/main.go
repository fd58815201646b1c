// Command ctbench is Crypt-Talk's load generator: it drives users over
// real WebSocket connections against a running server or cluster (-url, a
// comma-separated list: users spread across nodes), or starts crypttalkd
// itself on a temp dir (-start) and then also reports its peak RSS and CPU.
//
//	ctbench -start -scenario max -users 200 -duration 20s -json
//	ctbench -url http://127.0.0.1:5000,http://127.0.0.1:5001 -scenario chat -rate 1000
//
// Every message carries its sender's sequence number and send time, so the
// tool measures delivery latency and counts lost and duplicated messages.
// Loopback only, bounded by -duration: it stops by itself.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type config struct {
	urls      []string
	start     bool
	serverBin string
	serverEnv []string
	scenario  string
	users     int
	devices   int
	rate      int
	size      int
	window    int
	history   int
	duration  time.Duration
	warmup    time.Duration
	jsonOut   bool
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctbench:", err)
		os.Exit(1)
	}
	if cfg.jsonOut {
		_ = json.NewEncoder(os.Stdout).Encode(rep)
		return
	}
	printReport(rep)
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("ctbench", flag.ContinueOnError)
	urls := fs.String("url", "", "comma-separated base URLs of the nodes (e.g. http://127.0.0.1:5000)")
	env := fs.String("server-env", "", "with -start: extra KEY=VALUE,... for crypttalkd (e.g. MONGO_URL=...)")
	fs.BoolVar(&c.start, "start", false, "start crypttalkd on a temp dir and measure it")
	fs.StringVar(&c.serverBin, "server-bin", "", "crypttalkd binary for -start (default: next to ctbench, then PATH)")
	fs.StringVar(&c.scenario, "scenario", "chat", "chat, max, idle, reconnect, history or restart (-start only; fills -history-messages)")
	fs.IntVar(&c.users, "users", 100, "users (chat and max pair them up)")
	fs.IntVar(&c.devices, "devices", 1, "connections per user")
	fs.IntVar(&c.rate, "rate", 1000, "messages per second in total (chat); 0 = as fast as acks come")
	fs.IntVar(&c.size, "size", 100, "message size in bytes (at least 48)")
	fs.IntVar(&c.window, "window", 16, "requests in flight per sender (max)")
	fs.IntVar(&c.history, "history-messages", 2000, "messages to page through (history) or to store before a restart (restart)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured time before it")
	fs.BoolVar(&c.jsonOut, "json", false, "print one JSON object at the end")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if *urls != "" {
		c.urls = strings.Split(*urls, ",")
	}
	if *env != "" {
		c.serverEnv = strings.Split(*env, ",")
	}
	switch {
	case c.start == (len(c.urls) > 0):
		return c, fmt.Errorf("give either -url or -start")
	case c.users < 2 || c.devices < 1:
		return c, fmt.Errorf("need at least 2 users and 1 device each")
	case c.size < 48:
		c.size = 48
	}
	return c, nil
}

func printReport(r Report) {
	fmt.Printf("scenario %s: %d users x %d devices (%d connections), %.1fs measured\n", r.Scenario, r.Users, r.Devices, r.Connections, r.DurationS)
	fmt.Printf("  acked      %d (%.0f/s)\n  delivered  %d (%.0f/s)\n", r.Acked, r.AckedPerSec, r.Delivered, r.DeliveredPerSec)
	fmt.Printf("  latency    p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms\n", r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	fmt.Printf("  lost %d  duplicated %d  errors %v\n", r.Lost, r.Duplicated, r.Errors)
	if r.ServerRSSBytes > 0 {
		fmt.Printf("  server     peak RSS %.1f MiB, CPU %.1fs\n", float64(r.ServerRSSBytes)/(1<<20), r.ServerCPUSeconds)
	}
	if r.RSSPerConnBytes > 0 {
		fmt.Printf("  RSS per connection %.1f KiB\n", float64(r.RSSPerConnBytes)/1024)
	}
	if r.PagesPerSec > 0 {
		fmt.Printf("  history    %.0f pages/s\n", r.PagesPerSec)
	}
	if r.Resumed > 0 {
		fmt.Printf("  resumed    %d connections\n", r.Resumed)
	}
}
