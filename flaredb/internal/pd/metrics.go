package pd

import (
	"github.com/prometheus/client_golang/prometheus"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// metrics are PD's Prometheus metrics. A nil *metrics records nothing.
type metrics struct {
	heartbeats *prometheus.CounterVec // result: unchanged, updated, stale, error
	operators  *prometheus.CounterVec // type: add_peer, remove_peer, promote
	idBatches  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, c *Cluster) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flaredb_pd_region_heartbeats_total",
			Help: "Region heartbeats received, by result (unchanged, updated, stale, error).",
		}, []string{"result"}),
		operators: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flaredb_pd_operators_total",
			Help: "Membership changes the replica checker planned for region leaders, by type (a pending change repeated to the leader counts once).",
		}, []string{"type"}),
		idBatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flaredb_pd_id_batches_total",
			Help: "Id batches reserved in Chainfire.",
		}),
	}
	for _, col := range []prometheus.Collector{m.heartbeats, m.operators, m.idBatches, tableCollector{c}} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) heartbeat(result string) {
	if m != nil {
		m.heartbeats.WithLabelValues(result).Inc()
	}
}

// operator counts an instruction sent to a leader.
func (m *metrics) operator(op *flaredbv1.ChangePeerOperator, added bool) {
	if m == nil || op == nil {
		return
	}
	kind := "promote"
	switch {
	case op.GetRemove():
		kind = "remove_peer"
	case added:
		kind = "add_peer"
	}
	m.operators.WithLabelValues(kind).Inc()
}

func (m *metrics) idBatch() {
	if m != nil {
		m.idBatches.Inc()
	}
}

// tableCollector reports the routing table and store registry at scrape
// time.
type tableCollector struct{ c *Cluster }

var (
	regionsDesc = prometheus.NewDesc("flaredb_pd_regions", "Regions in the routing table.", nil, nil)
	underDesc   = prometheus.NewDesc("flaredb_pd_regions_under_replicated", "Regions with fewer peers than --max-replicas.", nil, nil)
	downDesc    = prometheus.NewDesc("flaredb_pd_regions_down_peers", "Regions whose leader reports a peer it cannot reach.", nil, nil)
	storesDesc  = prometheus.NewDesc("flaredb_pd_stores", "Stores by state (up, offline, tombstone, down).", []string{"state"}, nil)
)

func (t tableCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- regionsDesc
	ch <- underDesc
	ch <- downDesc
	ch <- storesDesc
}

func (t tableCollector) Collect(ch chan<- prometheus.Metric) {
	c := t.c
	now := c.cfg.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	under, down := 0, 0
	for _, r := range c.regions.byID {
		if len(r.GetRegion().GetPeers()) < c.cfg.MaxReplicas {
			under++
		}
		if len(r.GetDownPeers()) > 0 {
			down++
		}
	}
	states := map[string]int{"up": 0, "offline": 0, "tombstone": 0, "down": 0}
	for _, st := range c.stores.byID {
		switch {
		case isTombstone(st):
			states["tombstone"]++
		case st.meta.GetState() == flaredbv1.StoreState_STORE_STATE_OFFLINE:
			states["offline"]++
		case c.stores.isDown(st, now, c.cfg.MaxStoreDownTime):
			states["down"]++
		default:
			states["up"]++
		}
	}
	ch <- prometheus.MustNewConstMetric(regionsDesc, prometheus.GaugeValue, float64(c.regions.len()))
	ch <- prometheus.MustNewConstMetric(underDesc, prometheus.GaugeValue, float64(under))
	ch <- prometheus.MustNewConstMetric(downDesc, prometheus.GaugeValue, float64(down))
	for state, n := range states {
		ch <- prometheus.MustNewConstMetric(storesDesc, prometheus.GaugeValue, float64(n), state)
	}
}
