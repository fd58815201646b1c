package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics is the node's Prometheus registry. It is a value of the Server,
// not a global, so tests can run several servers in one process.
type metrics struct {
	reg         *prometheus.Registry
	conns       prometheus.Gauge
	stored      prometheus.Counter
	delivered   prometheus.Counter
	deliveryLat prometheus.Histogram
	httpLat     *prometheus.HistogramVec
	deps        *prometheus.GaugeVec
	panics      *prometheus.CounterVec
}

// newMetrics registers the server's metrics in reg (a new registry when
// nil), so other parts of the node (federation) can share it.
func newMetrics(reg *prometheus.Registry) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		reg: reg,
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crypttalk_ws_connections", Help: "Open WebSocket sessions on this node.",
		}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crypttalk_messages_stored_total", Help: "Messages stored durably by this node.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crypttalk_messages_delivered_total", Help: "Messages handed to a recipient's sockets on this node.",
		}),
		deliveryLat: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "crypttalk_delivery_latency_seconds", Help: "Time from a message being stored to its delivery to the recipient's sockets.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		httpLat: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crypttalk_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "status"}),
		deps: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crypttalk_dependency_up", Help: "1 when a dependency (store, bus) answered the last readiness check.",
		}, []string{"dependency"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crypttalk_panics_recovered_total", Help: "Panics recovered by the WebSocket gateway; each closed the sockets concerned with 1011.",
		}, []string{"where"}),
	}
	m.reg.MustRegister(m.conns, m.stored, m.delivered, m.deliveryLat, m.httpLat, m.deps, m.panics,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// chat.Metrics
func (m *metrics) MessageStored() { m.stored.Inc() }

// gateway.Metrics
func (m *metrics) Connections(delta int) { m.conns.Add(float64(delta)) }

// Panic counts a recovered panic by where it happened.
func (m *metrics) Panic(where string) { m.panics.WithLabelValues(where).Inc() }

func (m *metrics) Delivered(lat time.Duration) {
	m.delivered.Inc()
	m.deliveryLat.Observe(lat.Seconds())
}
