package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
)

func TestParseFlags(t *testing.T) {
	ok := [][]string{
		{"-start"},
		{"-url", "http://127.0.0.1:5000,http://localhost:5001", "-scenario", "max", "-rate", "0"},
		{"-url", "https://[::1]:8443", "-scenario", "idle", "-server-pid", "42"},
		{"-url", "http://127.5.6.7:80", "-warmup", "0s", "-drain", "0s", "-size", "0"},
		{"-start", "-scenario", "restart", "-history-messages", "1000"},
	}
	for _, args := range ok {
		if _, err := parseFlags(args, &bytes.Buffer{}); err != nil {
			t.Errorf("%v refused: %v", args, err)
		}
	}
	bad := map[string][]string{
		"neither url nor start": {},
		"both":                  {"-start", "-url", "http://127.0.0.1:1"},
		"remote private":        {"-url", "http://10.0.0.1:5000"},
		"remote name":           {"-url", "http://example.org"},
		"one bad of two":        {"-url", "http://127.0.0.1:1,http://192.168.1.1:1"},
		"no scheme":             {"-url", "127.0.0.1:5000"},
		"ws scheme":             {"-url", "ws://127.0.0.1:5000"},
		"unknown scenario":      {"-start", "-scenario", "storm"},
		"one user":              {"-start", "-users", "1"},
		"no devices":            {"-start", "-devices", "0"},
		"negative rate":         {"-start", "-rate", "-1"},
		"zero window":           {"-start", "-window", "0"},
		"zero duration":         {"-start", "-duration", "0s"},
		"negative warmup":       {"-start", "-warmup", "-1s"},
		"pid with start":        {"-start", "-server-pid", "1"},
		"restart without start": {"-url", "http://127.0.0.1:1", "-scenario", "restart"},
		"unknown flag":          {"-start", "-turbo"},
		"bad number":            {"-start", "-users", "many"},
	}
	for name, args := range bad {
		var stderr bytes.Buffer
		if _, err := parseFlags(args, &stderr); err == nil || stderr.Len() == 0 {
			t.Errorf("%s: %v accepted (stderr %q)", name, args, stderr.String())
		}
	}
	cfg, _ := parseFlags([]string{"-start", "-server-env", "A=1,B=2"}, &bytes.Buffer{})
	if len(cfg.serverEnv) != 2 || cfg.scenario != "chat" || cfg.window != 32 || cfg.duration != 10*time.Second {
		t.Fatalf("defaults %+v", cfg)
	}
}

func TestExitCodes(t *testing.T) {
	if code := ctbench([]string{"-no-such-flag"}); code != 2 {
		t.Fatalf("bad flag: exit %d, want 2", code)
	}
	if code := ctbench([]string{"-url", "http://127.0.0.1:1", "-timeout", "10s"}); code != 1 {
		t.Fatalf("no server: exit %d, want 1", code)
	}
}

func TestProcParsing(t *testing.T) {
	status := "Name:\tcrypttalkd\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t9\n"
	if got := statusBytes(status, "VmHWM"); got != 200<<20 {
		t.Fatalf("VmHWM %d", got)
	}
	if statusBytes(status, "VmSwap") != 0 || statusBytes("VmRSS: lots kB\n", "VmRSS") != 0 || statusBytes("VmRSS: 5 MB\n", "VmRSS") != 0 {
		t.Fatal("a missing or malformed field read as a number")
	}
	// The name may hold spaces and parentheses.
	stat := "1234 (crypt (talk) d) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 9 0 1 2 3"
	if cpu, err := statCPU(stat); err != nil || cpu != 4 {
		t.Fatalf("cpu %v %v", cpu, err)
	}
	for _, bad := range []string{"", "1234 crypttalkd S 1", "1 (x) S 1 2", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u s"} {
		if _, err := statCPU(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	self, err := readProc(os.Getpid())
	if err != nil || self.rss <= 0 || self.peakRSS < self.rss {
		t.Fatalf("own process: %+v %v", self, err)
	}
	if _, err := readProc(-1); !errors.Is(err, errNoProc) {
		t.Fatalf("no such process: %v", err)
	}
}

func TestErrKind(t *testing.T) {
	cases := map[string]error{
		"send":                 nil,
		"send:CT_RATE_LIMITED": fmt.Errorf("wrapped: %w", &client.APIError{Status: 429, Errcode: "CT_RATE_LIMITED"}),
		"send:http-502":        &client.APIError{Status: 502},
		"send:closed-4000":     &client.CloseError{Code: 4000},
		"send:timeout":         context.DeadlineExceeded,
		"send:other":           errors.New("boom"),
	}
	for want, err := range cases {
		if got := errKind("send", err); got != want {
			t.Errorf("%v: %q, want %q", err, got, want)
		}
	}
}

func TestDue(t *testing.T) {
	if due(0, 1000) != 0 || due(time.Second, 1000) != 1000 || due(1500*time.Millisecond, 3) != 4 || due(time.Hour, 0) != 0 {
		t.Fatal("due")
	}
}

func TestRunPrefix(t *testing.T) {
	a, b := runPrefix(), runPrefix()
	valid := regexp.MustCompile(`^cb[a-z2-7]{10}$`)
	if !valid.MatchString(a) || !valid.MatchString(b) || a == b {
		t.Fatalf("prefixes %q %q", a, b)
	}
}

func TestWriteReport(t *testing.T) {
	r := Report{Scenario: "idle", Users: 2, Devices: 1, Errors: map[string]int64{}, ServerRSSBytes: 1 << 20, RSSPerConnBytes: 2048, Resumed: 2, PagesPerSec: 3}
	var out bytes.Buffer
	if err := writeReport(&out, r, true); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("not one JSON object: %q", out.String())
	}
	for _, k := range []string{"acked_per_sec", "delivered_per_sec", "p50_ms", "p90_ms", "p99_ms", "max_ms", "lost", "duplicated", "errors", "server_rss_bytes", "server_cpu_seconds", "scenario", "users", "duration_s"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}
	out.Reset()
	_ = writeReport(&out, r, false)
	for _, want := range []string{"scenario idle", "peak RSS 1.0 MiB", "RSS per connection 2.0 KiB", "3 pages/s", "resumed    2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, out.String())
		}
	}
}
