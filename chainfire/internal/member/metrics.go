package member

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are named as etcd names them, so the dashboards and alerts etcd
// operators already have work on Chainfire unchanged.
type metrics struct {
	proposalsFailed  prometheus.Counter
	proposalsPending prometheus.Gauge
	leaderChanges    prometheus.Counter
	walFsync         prometheus.Histogram
	backendCommit    prometheus.Histogram
	leasesGranted    prometheus.Counter
	leasesRevoked    prometheus.Counter
	leasesExpired    prometheus.Counter
	leaseKeepalives  prometheus.Counter
}

// diskBuckets span 1 ms to ~8 s, as etcd's disk latency histograms do.
var diskBuckets = prometheus.ExponentialBuckets(0.001, 2, 14)

func newMetrics() *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	return &metrics{
		leasesGranted:   counter("etcd_debugging_lease_granted_total", "Leases granted through this member."),
		leasesRevoked:   counter("etcd_debugging_lease_revoked_total", "Leases revoked by clients through this member."),
		leasesExpired:   counter("chainfire_lease_expired_total", "Leases this member, as leader, revoked because they expired."),
		leaseKeepalives: counter("etcd_debugging_lease_renewed_total", "Lease renewals this member, as leader, granted."),
		proposalsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcd_server_proposals_failed_total", Help: "Proposals that failed (timeouts, lost leadership, rejected by the state machine are not counted).",
		}),
		proposalsPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcd_server_proposals_pending", Help: "Proposals waiting to be committed and applied.",
		}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcd_server_leader_changes_seen_total", Help: "Leader changes this member has seen.",
		}),
		walFsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "etcd_disk_wal_fsync_duration_seconds", Help: "Latency of durable Raft log appends (raft-boltdb commit with fsync).", Buckets: diskBuckets,
		}),
		backendCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "etcd_disk_backend_commit_duration_seconds", Help: "Latency of committing an applied batch to the MVCC store.", Buckets: diskBuckets,
		}),
	}
}

func (mt *metrics) observeAppend(d time.Duration) { mt.walFsync.Observe(d.Seconds()) }
func (mt *metrics) observeCommit(d time.Duration) { mt.backendCommit.Observe(d.Seconds()) }

// register adds the member's collectors, including gauges read at scrape
// time from the live member.
func (m *Member) registerMetrics(reg prometheus.Registerer) error {
	mt := m.metrics
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	boolean := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	collectors := []prometheus.Collector{
		mt.proposalsFailed, mt.proposalsPending, mt.leaderChanges, mt.walFsync, mt.backendCommit,
		mt.leasesGranted, mt.leasesRevoked, mt.leasesExpired, mt.leaseKeepalives,
		gauge("chainfire_leases", "Leases that exist.", func() float64 { return float64(m.Leases().Len()) }),
		gauge("etcd_server_has_leader", "1 if this member knows a leader.", func() float64 { return boolean(m.HasLeader()) }),
		gauge("etcd_server_is_leader", "1 if this member is the leader.", func() float64 { return boolean(m.node.IsLeader()) }),
		gauge("etcd_server_proposals_committed_total", "Raft index committed, as this member knows it.", func() float64 { return float64(m.node.CommitIndex()) }),
		gauge("etcd_server_proposals_applied_total", "Raft index applied to the store.", func() float64 { return float64(m.applier.AppliedIndex()) }),
		gauge("etcd_mvcc_db_total_size_in_bytes", "Size of the MVCC store file.", func() float64 {
			size, _ := m.store.Size()
			return float64(size)
		}),
		gauge("etcd_mvcc_db_total_size_in_use_in_bytes", "Bytes of the MVCC store file in use.", func() float64 {
			size, _ := m.store.SizeInUse()
			return float64(size)
		}),
		gauge("etcd_server_quota_backend_bytes", "The backend quota (--quota-backend-bytes).", func() float64 { return float64(m.cfg.QuotaBackendBytes) }),
		gauge("etcd_debugging_mvcc_current_revision", "Current store revision.", func() float64 { return float64(m.store.Rev()) }),
		gauge("etcd_debugging_mvcc_compact_revision", "Last compaction revision.", func() float64 { return float64(m.store.CompactRev()) }),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// countLeaderChanges counts changes of leader seen through Raft's
// observations.
func (m *Member) countLeaderChanges(ctx context.Context) {
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	m.node.Raft().RegisterObserver(obs)
	defer m.node.Raft().DeregisterObserver(obs)
	var last raft.ServerID
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-ch:
			lo := o.Data.(raft.LeaderObservation)
			if lo.LeaderID != "" && lo.LeaderID != last {
				if last != "" {
					m.metrics.leaderChanges.Inc()
				}
				last = lo.LeaderID
			}
		}
	}
}
