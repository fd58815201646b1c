package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// stats gathers what a run measures. It is safe for concurrent use.
type stats struct {
	mu        sync.Mutex
	acked     int64
	delivered int64
	latencies []time.Duration
	errors    map[string]int64
	// per (recipient device, sender): seqs seen, to count loss and duplicates
	seen     map[string]map[int64]bool
	dups     int64
	expected map[string]int64 // device key -> messages it should receive
	counting bool             // false during warm-up
}

func newStats() *stats {
	return &stats{errors: map[string]int64{}, seen: map[string]map[int64]bool{}, expected: map[string]int64{}}
}

func (s *stats) setCounting(on bool) {
	s.mu.Lock()
	s.counting = on
	s.mu.Unlock()
}

func (s *stats) ack(devices []string, sender string, seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counting {
		s.acked++
	}
	for _, d := range devices {
		s.expected[d+"|"+sender]++
	}
}

// deliver records one received message; seq is the sender's own counter.
func (s *stats) deliver(device, sender string, seq int64, sent time.Time) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	key := device + "|" + sender
	m := s.seen[key]
	if m == nil {
		m = map[int64]bool{}
		s.seen[key] = m
	}
	if m[seq] {
		s.dups++
		return
	}
	m[seq] = true
	if s.counting {
		s.delivered++
		s.latencies = append(s.latencies, now.Sub(sent))
	}
}

func (s *stats) fail(kind string) {
	s.mu.Lock()
	s.errors[kind]++
	s.mu.Unlock()
}

// lost counts messages that were acknowledged but never reached a device.
func (s *stats) lost() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for key, want := range s.expected {
		if got := int64(len(s.seen[key])); got < want {
			n += want - got
		}
	}
	return n
}

// percentile of sorted durations, p in [0,100].
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// procStats reads a process's peak RSS and CPU seconds from /proc.
func procStats(pid int) (rss int64, cpu float64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				f := strings.Fields(line)
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				rss = kb * 1024
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 12 {
			ut, _ := strconv.ParseFloat(f[11], 64)
			st, _ := strconv.ParseFloat(f[12], 64)
			cpu = (ut + st) / 100 // USER_HZ is 100 on Linux
		}
	}
	return rss, cpu
}

// currentRSS is the resident set now (not the peak).
func currentRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// Report is the -json output.
type Report struct {
	Scenario         string           `json:"scenario"`
	Users            int              `json:"users"`
	Devices          int              `json:"devices"`
	Connections      int              `json:"connections"`
	DurationS        float64          `json:"duration_s"`
	Acked            int64            `json:"acked"`
	Delivered        int64            `json:"delivered"`
	AckedPerSec      float64          `json:"acked_per_sec"`
	DeliveredPerSec  float64          `json:"delivered_per_sec"`
	P50ms            float64          `json:"p50_ms"`
	P90ms            float64          `json:"p90_ms"`
	P99ms            float64          `json:"p99_ms"`
	MaxMs            float64          `json:"max_ms"`
	Lost             int64            `json:"lost"`
	Duplicated       int64            `json:"duplicated"`
	Errors           map[string]int64 `json:"errors"`
	ServerRSSBytes   int64            `json:"server_rss_bytes"`
	ServerCPUSeconds float64          `json:"server_cpu_seconds"`
	RSSPerConnBytes  int64            `json:"rss_per_conn_bytes,omitempty"`
	PagesPerSec      float64          `json:"pages_per_sec,omitempty"`
	Resumed          int              `json:"resumed,omitempty"`
}

func (s *stats) report(elapsed time.Duration) Report {
	s.mu.Lock()
	lat := append([]time.Duration(nil), s.latencies...)
	r := Report{Acked: s.acked, Delivered: s.delivered, Duplicated: s.dups, Errors: map[string]int64{}}
	for k, v := range s.errors {
		r.Errors[k] = v
	}
	s.mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	secs := elapsed.Seconds()
	r.DurationS = secs
	if secs > 0 {
		r.AckedPerSec = float64(r.Acked) / secs
		r.DeliveredPerSec = float64(r.Delivered) / secs
	}
	r.P50ms, r.P90ms, r.P99ms = ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99))
	if len(lat) > 0 {
		r.MaxMs = ms(lat[len(lat)-1])
	}
	r.Lost = s.lost()
	return r
}
