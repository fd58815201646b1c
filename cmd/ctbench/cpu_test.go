package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestParseProcessCPU(t *testing.T) {
	t.Parallel()
	ok := map[string]float64{
		"# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.34\n": 12.34,
		"go_goroutines 7\nprocess_cpu_seconds_total_extra 9\nprocess_cpu_seconds_total 3\n":                                                                              3,
		"process_cpu_seconds_total{job=\"a\"} 1.5e+01 1700000000\n":                                                                                                      15,
	}
	for in, want := range ok {
		got, err := parseProcessCPU(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "go_goroutines 7\n", "process_cpu_seconds_total\n", "process_cpu_seconds_total abc\n",
		"process_cpu_seconds_total -1\n", "process_cpu_seconds_total NaN\n", "process_cpu_seconds_total{a=\"b\" 3\n"} {
		if v, err := parseProcessCPU(strings.NewReader(in)); err == nil {
			t.Errorf("%q accepted as %v", in, v)
		}
	}
}

func TestFetchProcessCPUSendsToken(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte("process_cpu_seconds_total 2.5\n"))
	}))
	defer srv.Close()
	if v, err := fetchProcessCPU(context.Background(), srv.URL, "tok"); err != nil || v != 2.5 {
		t.Fatalf("with token: %v, %v", v, err)
	}
	if _, err := fetchProcessCPU(context.Background(), srv.URL, ""); err == nil {
		t.Fatal("a 403 read as a figure")
	}
}

func TestUsPerMsg(t *testing.T) {
	t.Parallel()
	cases := []struct {
		before, after float64
		msgs          int64
		want          float64
	}{
		{10, 11, 25000, 40},
		{0, 0.5, 1000, 500},
		{1, 1.00001234, 1, 12.3},
		{-1, 5, 10, 0}, // the first reading failed
		{5, 4, 10, 0},  // a counter that went back (another process)
		{1, 2, 0, 0},   // nothing acknowledged
	}
	for _, c := range cases {
		if got := usPerMsg(c.before, c.after, c.msgs); got != c.want {
			t.Errorf("usPerMsg(%v, %v, %d) = %v, want %v", c.before, c.after, c.msgs, got, c.want)
		}
	}
}

func TestCPUFigures(t *testing.T) {
	t.Parallel()
	r := &runner{cpu: [2]cpuSample{{server: 100, tool: 3}, {server: 101, tool: 3.5}}}
	rep := Report{Acked: 20000}
	r.cpuFigures(&rep)
	if rep.ServerCPUUsPerMsg != 50 || rep.ToolCPUUsPerMsg != 25 || rep.ServerCPUWindowS != 1 || rep.ToolCPUWindowS != 0.5 {
		t.Fatalf("figures %+v", rep)
	}
	unread := &runner{cpu: [2]cpuSample{{server: -1, tool: 3}, {server: -1, tool: 4}}}
	rep = Report{Acked: 1000}
	unread.cpuFigures(&rep)
	if rep.ServerCPUUsPerMsg != 0 || rep.ToolCPUUsPerMsg != 1000 {
		t.Fatalf("server unreadable: %+v", rep)
	}
}

func TestSelfCPUAndProcAgree(t *testing.T) {
	t.Parallel()
	self := selfCPU()
	u, err := readProc(os.Getpid())
	if err != nil || self < 0 {
		t.Fatalf("selfCPU %v, readProc %v", self, err)
	}
	// /proc counts in clock ticks: the two readings differ by a tick or so
	// plus what ran between them; both only grow.
	if u.cpuSeconds+0.02 < self-0.02 || selfCPU() < self {
		t.Fatalf("getrusage %v vs /proc %v", self, u.cpuSeconds)
	}
}

func TestParsePin(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]pinSpec{"": {-1, -1}, "1": {1, -1}, "1,0": {1, 0}, " 3 , 2": {3, 2}} {
		if got, err := parsePin(in); err != nil || got != want {
			t.Errorf("%q: %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"a", "1,1", "-1", "1,", ",0", "1,2,3", "5000"} {
		if got, err := parsePin(in); err == nil {
			t.Errorf("%q accepted as %+v", in, got)
		}
	}
}

func TestCPUFlags(t *testing.T) {
	t.Parallel()
	ok := [][]string{
		{"-start", "-pin", "1,0"},
		{"-url", "http://127.0.0.1:5000", "-pin", "1"},
		{"-url", "http://127.0.0.1:5000", "-server-pid", "7", "-pin", "1,0"},
		{"-url", "http://127.0.0.1:5000", "-metrics", "http://127.0.0.1:5001/metrics", "-metrics-token", "x"},
	}
	for _, args := range ok {
		if _, err := parseFlags(args, &bytes.Buffer{}); err != nil {
			t.Errorf("%v refused: %v", args, err)
		}
	}
	bad := [][]string{
		{"-start", "-pin", "0,0"},
		{"-url", "http://127.0.0.1:5000", "-pin", "1,0"},                                      // whose process?
		{"-start", "-metrics", "http://127.0.0.1:1/metrics"},                                  // has its pid
		{"-url", "http://127.0.0.1:5000", "-metrics", "http://10.1.2.3/metrics"},              // not local
		{"-url", "http://127.0.0.1:5000", "-server-pid", "3", "-metrics", "http://[::1]:1/m"}, // both sources
	}
	for _, args := range bad {
		var stderr bytes.Buffer
		if _, err := parseFlags(args, &stderr); err == nil || stderr.Len() == 0 {
			t.Errorf("%v accepted", args)
		}
	}
}
