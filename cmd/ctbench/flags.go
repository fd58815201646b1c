package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// scenarios the tool runs.
var scenarios = []string{"chat", "max", "idle", "reconnect", "history", "restart"}

// config is the parsed command line.
type config struct {
	urls      []string
	start     bool
	serverBin string
	serverEnv []string
	serverPID int
	scenario  string
	users     int
	devices   int
	rate      int
	size      int
	window    int
	history   int
	offline   int
	duration  time.Duration
	warmup    time.Duration
	drain     time.Duration
	timeout   time.Duration
	jsonOut   bool
	cpuProf   string
	metrics   string // server's Prometheus /metrics, for its CPU without a pid
	token     string // bearer for -metrics (the public listener wants the admin token)
	pin       pinSpec
}

// errUsage is returned for a bad command line (the message was printed).
var errUsage = errors.New("usage")

// parseFlags reads and checks the command line; problems go to stderr.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("ctbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("url", "", "comma-separated base URLs of running nodes on this machine, e.g. http://127.0.0.1:5000")
	env := fs.String("server-env", "", "with -start: extra KEY=VALUE,... for crypttalkd (e.g. MONGO_URL=...,REDIS_URL=...)")
	fs.BoolVar(&c.start, "start", false, "start crypttalkd on a temp dir and a free port, and measure its RSS and CPU")
	fs.StringVar(&c.serverBin, "server-bin", "", "crypttalkd binary for -start (default: next to ctbench, then PATH)")
	fs.IntVar(&c.serverPID, "server-pid", 0, "with -url: pid of a local server to measure (RSS and CPU from /proc)")
	fs.StringVar(&c.scenario, "scenario", "chat", strings.Join(scenarios, ", ")+" (restart: -start only; stores -history-messages, then times the start)")
	fs.IntVar(&c.users, "users", 100, "users; chat, max and reconnect pair them up (0-1, 2-3, ...)")
	fs.IntVar(&c.devices, "devices", 1, "connections per user; every device must get every message")
	fs.IntVar(&c.rate, "rate", 1000, "messages per second in total for chat and reconnect; 0 = as fast as acks come")
	fs.IntVar(&c.size, "size", 100, "message size in bytes (grows to fit the tool's header, about 40 bytes)")
	fs.IntVar(&c.window, "window", 32, "requests in flight per connection (max, chat), parallel readers (history)")
	fs.IntVar(&c.history, "history-messages", 2000, "history: messages to fill the conversation with; restart: messages to store before the start")
	fs.IntVar(&c.offline, "offline-messages", 3, "reconnect: messages each user sends over REST while everyone is offline")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured traffic before it")
	fs.DurationVar(&c.drain, "drain", 10*time.Second, "after the last send, how long to wait for acknowledged messages still on their way")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "hard limit on the whole run, setup included")
	fs.BoolVar(&c.jsonOut, "json", false, "print one JSON object at the end")
	fs.StringVar(&c.cpuProf, "cpuprofile", "", "write ctbench's own CPU profile to this file (the tool shares the CPU with a local server)")
	fs.StringVar(&c.metrics, "metrics", "", "with -url and no -server-pid: the server's /metrics URL, to read its CPU (process_cpu_seconds_total)")
	fs.StringVar(&c.token, "metrics-token", "", "bearer token for -metrics (the admin token when /metrics is on the public listener)")
	pin := fs.String("pin", "", "TOOL[,SERVER]: CPU numbers; the tool re-executes itself on TOOL, and the server it starts (or -server-pid) is moved to SERVER")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var perr error
	if c.pin, perr = parsePin(*pin); perr != nil {
		fmt.Fprintln(stderr, "ctbench:", perr)
		return c, fmt.Errorf("%w: %w", errUsage, perr)
	}
	if *urls != "" {
		c.urls = strings.Split(*urls, ",")
	}
	if *env != "" {
		c.serverEnv = strings.Split(*env, ",")
	}
	if err := c.check(); err != nil {
		fmt.Fprintln(stderr, "ctbench:", err)
		return c, fmt.Errorf("%w: %w", errUsage, err)
	}
	return c, nil
}

// check reports the first thing wrong with c.
func (c config) check() error {
	switch {
	case c.start == (len(c.urls) > 0):
		return errors.New("give either -url or -start")
	case !slices.Contains(scenarios, c.scenario):
		return fmt.Errorf("unknown -scenario %q (want one of %s)", c.scenario, strings.Join(scenarios, ", "))
	case c.users < 2 || c.devices < 1:
		return errors.New("need -users >= 2 and -devices >= 1")
	case c.rate < 0 || c.size < 0 || c.window < 1 || c.history < 1 || c.offline < 0:
		return errors.New("-rate, -size, -offline-messages must be >= 0 and -window, -history-messages >= 1")
	case c.duration <= 0 || c.warmup < 0 || c.drain < 0 || c.timeout <= 0:
		return errors.New("-duration and -timeout must be > 0, -warmup and -drain >= 0")
	case c.scenario == "restart" && !c.start:
		return errors.New("-scenario restart needs -start: it fills a data dir before the server starts")
	case c.start && c.serverPID != 0:
		return errors.New("-server-pid is for -url: with -start the tool measures its own server")
	case c.metrics != "" && (c.start || c.serverPID != 0):
		return errors.New("-metrics is for -url without -server-pid: otherwise the tool reads the server's CPU from /proc")
	case c.pin.server >= 0 && !c.start && c.serverPID == 0:
		return errors.New("-pin TOOL,SERVER needs -start or -server-pid to know the server's process")
	}
	if c.metrics != "" {
		if err := checkLoopback(c.metrics); err != nil {
			return err
		}
	}
	for _, u := range c.urls {
		if err := checkLoopback(u); err != nil {
			return err
		}
	}
	return nil
}

// checkLoopback refuses a base URL that is not http(s) on a loopback
// address: load goes only to servers on this machine.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q: want http(s)://host:port", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-url %q: ctbench only loads servers on this machine (127.0.0.0/8, ::1, localhost)", raw)
}
