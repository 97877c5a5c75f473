package member

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

const (
	// leaseTick is how often the leader looks for expired leases.
	leaseTick = 100 * time.Millisecond
	// leaseRevokeRate bounds revocations per second (etcd's is 1000), so a
	// mass expiry becomes a steady trickle of small proposals instead of a
	// burst that stalls client writes.
	leaseRevokeRate = 1000
	// maxRevokesInFlight bounds concurrent revocation proposals.
	maxRevokesInFlight = 64
	// maxCheckpointsPerEntry bounds one checkpoint entry's size.
	maxCheckpointsPerEntry = 1000
)

// DefaultLeaseCheckpointInterval is how often the leader replicates the
// remaining TTL of leases longer than it (etcd's default is 5 minutes).
const DefaultLeaseCheckpointInterval = 5 * time.Minute

// runLessor makes the lessor primary while this member is the ready leader
// and performs the leader's lease duties: revoking expired leases and
// checkpointing remaining TTLs.
func (m *Member) runLessor(ctx context.Context) {
	var promoted uint64
	var inflight sync.WaitGroup
	defer inflight.Wait()
	sem := make(chan struct{}, maxRevokesInFlight)
	tick := time.NewTicker(leaseTick)
	defer tick.Stop()
	lastCheckpoint := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		term, ready := m.node.ReadyTerm()
		switch {
		case !ready && promoted != 0:
			m.Leases().Demote()
			promoted = 0
			continue
		case !ready:
			continue
		case term != promoted:
			// Everything committed before this term is applied: every
			// lease is known. The election's duration does not count.
			m.Leases().Promote(m.cfg.electionTimeout())
			promoted, lastCheckpoint = term, time.Now()
			m.log.Info("lessor promoted", "term", term, "leases", m.Leases().Len())
		}
		for _, id := range m.Leases().Expired(leaseRevokeRate * int(leaseTick) / int(time.Second)) {
			sem <- struct{}{}
			inflight.Add(1)
			go func() {
				defer func() { <-sem; inflight.Done() }()
				m.revokeExpired(ctx, id)
			}()
		}
		if interval := m.cfg.leaseCheckpointInterval(); time.Since(lastCheckpoint) >= interval {
			lastCheckpoint = time.Now()
			m.checkpointLeases(ctx, int64(interval/time.Second))
		}
	}
}

func (m *Member) revokeExpired(ctx context.Context, id int64) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	// Only through this member's own log: a deposed leader must not have
	// its stale view of expiry forwarded to the new one.
	cmd := &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_LeaseRevoke{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}}}
	_, err := m.ProposeOnLeader(ctx, cmd)
	switch {
	case err == nil:
		m.metrics.leasesExpired.Inc()
	case errors.Is(err, etcderr.LeaseNotFound):
	default:
		m.log.Debug("revoke expired lease", "lease", id, "error", err.Error())
	}
}

func (m *Member) checkpointLeases(ctx context.Context, longerThan int64) {
	cps := m.Leases().Due(longerThan)
	for len(cps) > 0 {
		n := min(len(cps), maxCheckpointsPerEntry)
		cmd := &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_LeaseCheckpoints{
			LeaseCheckpoints: &chainfirev1.LeaseCheckpoints{Checkpoints: cps[:n]}}}
		pctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
		_, err := m.ProposeOnLeader(pctx, cmd)
		cancel()
		if err != nil {
			m.log.Debug("lease checkpoint", "error", err.Error())
			return
		}
		cps = cps[n:]
	}
}

func (c Config) leaseCheckpointInterval() time.Duration {
	if c.LeaseCheckpointInterval <= 0 {
		return DefaultLeaseCheckpointInterval
	}
	return c.LeaseCheckpointInterval
}
