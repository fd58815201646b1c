package main

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crypttalk/crypttalk/client"
)

// stats gathers what a run measures. Counters and latencies count only
// while measuring is on (not during warm-up, not while draining); the
// ledger checks every message of the run. It is safe for concurrent use.
type stats struct {
	epoch     time.Time // for monotonic readings
	measuring atomic.Bool
	since     atomic.Int64 // when measuring began, ns after epoch
	acked     atomic.Int64
	delivered atomic.Int64
	ledger    *ledger

	mu     sync.Mutex
	hist   histogram
	errors map[string]int64
}

func newStats() *stats {
	return &stats{epoch: time.Now(), ledger: newLedger(), errors: map[string]int64{}}
}

// startMeasuring turns the counters on.
func (s *stats) startMeasuring() {
	s.since.Store(int64(time.Since(s.epoch)))
	s.measuring.Store(true)
}

// measured is how long the counters have been on (so far, or until
// stopMeasuring).
func (s *stats) measured() time.Duration {
	return time.Since(s.epoch) - time.Duration(s.since.Load())
}

// stopMeasuring turns the counters off and returns the measured time.
func (s *stats) stopMeasuring() time.Duration {
	s.measuring.Store(false)
	return s.measured()
}

// ack records that the server stored sender's message num for devices.
func (s *stats) ack(sender int, num int64, devices []int) {
	s.ledger.acked(sender, num, devices)
	if s.measuring.Load() {
		s.acked.Add(1)
	}
}

// deliver records that device received sender's message num after latency.
func (s *stats) deliver(sender, device int, num int64, latency time.Duration) {
	if s.ledger.received(sender, device, num) || !s.measuring.Load() {
		return
	}
	s.delivered.Add(1)
	s.mu.Lock()
	s.hist.record(latency)
	s.mu.Unlock()
}

// observe records a latency that is not a delivery (a history page).
func (s *stats) observe(latency time.Duration) {
	s.mu.Lock()
	s.hist.record(latency)
	s.mu.Unlock()
}

// fail counts an error of kind op:detail (see errKind).
func (s *stats) fail(op string, err error) {
	k := errKind(op, err)
	s.mu.Lock()
	s.errors[k]++
	s.mu.Unlock()
}

// errKind names an error for the report: "send:CT_RATE_LIMITED",
// "send:closed-4000", "connect:timeout", "send:other".
func errKind(op string, err error) string {
	var ae *client.APIError
	var ce *client.CloseError
	switch {
	case err == nil:
		return op
	case errors.As(err, &ae) && ae.Errcode != "":
		return op + ":" + ae.Errcode
	case errors.As(err, &ae):
		return op + ":http-" + strconv.Itoa(ae.Status)
	case errors.As(err, &ce):
		return op + ":closed-" + strconv.Itoa(ce.Code)
	case errors.Is(err, context.DeadlineExceeded):
		return op + ":timeout"
	}
	return op + ":other"
}

// Report is what a run found; -json prints it as one object.
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
	ErrorsTotal      int64            `json:"errors_total"`
	ServerRSSBytes   int64            `json:"server_rss_bytes"`
	ServerCPUSeconds float64          `json:"server_cpu_seconds"`
	// CPU per acknowledged message over the measured window (warm-up and
	// drain excluded); 0 when it could not be read.
	ServerCPUUsPerMsg float64 `json:"server_cpu_us_per_msg"`
	ToolCPUUsPerMsg   float64 `json:"tool_cpu_us_per_msg"`
	ServerCPUWindowS  float64 `json:"server_cpu_window_s"`
	ToolCPUWindowS    float64 `json:"tool_cpu_window_s"`
	RSSPerConnBytes   int64   `json:"rss_per_conn_bytes,omitempty"`
	PagesPerSec       float64 `json:"pages_per_sec,omitempty"`
	Resumed           int     `json:"resumed,omitempty"`
	ResumeMs          float64 `json:"resume_ms,omitempty"`
}

// report summarises the run so far over a measured window of elapsed.
func (s *stats) report(elapsed time.Duration) Report {
	r := Report{Acked: s.acked.Load(), Delivered: s.delivered.Load(), DurationS: elapsed.Seconds()}
	s.mu.Lock()
	h := s.hist // a copy: percentiles are read without the lock
	r.Errors = maps.Clone(s.errors)
	s.mu.Unlock()
	for _, n := range r.Errors {
		r.ErrorsTotal += n
	}
	if r.DurationS > 0 {
		r.AckedPerSec = float64(r.Acked) / r.DurationS
		r.DeliveredPerSec = float64(r.Delivered) / r.DurationS
	}
	r.P50ms, r.P90ms = ms(h.percentile(50)), ms(h.percentile(90))
	r.P99ms, r.MaxMs = ms(h.percentile(99)), ms(h.max)
	r.Lost, r.Duplicated = s.ledger.tally()
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
