package watch

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics carry etcd's names where etcd has the metric, so existing
// dashboards work.
type metrics struct {
	watchers   prometheus.Gauge
	streams    prometheus.Gauge
	slow       prometheus.Gauge
	eventsSent prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcd_debugging_mvcc_watcher_total", Help: "Watchers on this member.",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcd_debugging_mvcc_watch_stream_total", Help: "Watch streams on this member.",
		}),
		slow: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcd_debugging_mvcc_slow_watcher_total", Help: "Unsynced watchers: behind the store and being caught up from it.",
		}),
		eventsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcd_debugging_mvcc_events_total", Help: "Watch events handed to watch streams.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.watchers, m.streams, m.slow, m.eventsSent} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("watch: register metrics: %w", err)
		}
	}
	return m, nil
}
