package app

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/photoncloud/core/flaredb/internal/store"
)

// registerMetrics exposes the store's raft counters on /metrics.
func registerMetrics(reg prometheus.Registerer, st *store.Store) error {
	if reg == nil {
		return nil
	}
	cols := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "flaredb_raft_heartbeats_sent_total",
			Help: "Empty AppendEntries (heartbeats and commit-index updates) sent by this store's region leaders.",
		}, func() float64 { return float64(st.Metrics().HeartbeatsSent) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flaredb_store_quiescent_leaders",
			Help: "Region leaders that slowed their heartbeats because nothing was applied for a while.",
		}, func() float64 { return float64(st.Metrics().Quiescent) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flaredb_store_regions",
			Help: "Region replicas hosted by this store.",
		}, func() float64 { return float64(st.Metrics().Regions) }),
	}
	for _, c := range cols {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register store metrics: %w", err)
		}
	}
	return nil
}
