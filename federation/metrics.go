package federation

import "github.com/prometheus/client_golang/prometheus"

// metrics are per destination: the label set is bounded by maxDestinations.
type metrics struct {
	queued     *prometheus.GaugeVec
	sent       *prometheus.CounterVec
	failed     *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	retryDelay *prometheus.GaugeVec
	inbound    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crypttalk_federation_queued", Help: "Outbox items waiting for a destination (as last seen by this node).",
		}, []string{"destination"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crypttalk_federation_sent_total", Help: "Events a destination acknowledged in a transaction sent by this node.",
		}, []string{"destination"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crypttalk_federation_failed_total", Help: "Transactions to a destination that failed and will be retried.",
		}, []string{"destination"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crypttalk_federation_dropped_total", Help: "Events given up on: refused by the destination (4xx) or not signable.",
		}, []string{"destination"}),
		retryDelay: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crypttalk_federation_retry_delay_seconds", Help: "Current backoff of a destination; 0 when it is healthy.",
		}, []string{"destination"}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crypttalk_federation_inbound_transactions_total", Help: "Inbound transactions by outcome (ok, replay, refused, limited, error).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.queued, m.sent, m.failed, m.dropped, m.retryDelay, m.inbound)
	}
	return m
}
