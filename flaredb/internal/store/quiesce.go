package store

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Idle regions. hashicorp/raft has no hibernation: every region leader
// sends each follower a heartbeat every HeartbeatTimeout/10 to 2x that and
// an empty append every CommitTimeout, so the cost of a store grows with
// the regions it hosts even when nothing is written. Two measures:
//
//   - CommitTimeout is half the election timeout (followers learn the
//     commit index of the last entries of a burst at most that much later;
//     only leaders serve requests, so no client waits for it).
//   - A leader whose region has applied nothing for Config.QuiesceAfter raises
//     its own HeartbeatTimeout to quiescentFactor × the election timeout,
//     sending heartbeats every 0.3 to 0.6 of the election timeout instead
//     of 0.1 to 0.2. That stays inside the leader lease (the election
//     timeout: a leader that hears from no quorum for that long steps down)
//     and below every follower's timeout, which is never changed, so a
//     quiet region never loses its leader and a follower that restarts
//     needs no coordination. The first applied entry, or the loss of
//     leadership, restores the normal timeout.
const (
	defaultQuiesceAfter = 10 * time.Second
	quiescentFactor     = 3
)

// quiesceState is one peer's idleness, touched only by the quiesce loop.
type quiesceState struct {
	applied   uint64
	since     time.Time
	quiescent atomic.Bool // read by metrics
}

func (s *Store) quiesceLoop() {
	t := time.NewTicker(min(time.Second, s.cfg.QuiesceAfter/2))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			for _, p := range s.Peers() {
				p.quiesceCheck(now)
			}
		}
	}
}

// quiesceCheck moves p in or out of the quiescent state.
func (p *Peer) quiesceCheck(now time.Time) {
	q := &p.quiesce
	applied := p.raft.AppliedIndex()
	leader := p.raft.State() == raft.Leader
	if applied != q.applied || q.since.IsZero() {
		q.applied, q.since = applied, now
	}
	idle := leader && now.Sub(q.since) >= p.store.cfg.QuiesceAfter
	if idle == q.quiescent.Load() {
		return
	}
	hb := p.store.cfg.ElectionTimeout
	if idle {
		hb *= quiescentFactor
	}
	rc := p.raft.ReloadableConfig()
	// raft insists ElectionTimeout >= HeartbeatTimeout; a leader does not
	// use it, and a leader that steps down is restored within a tick.
	rc.HeartbeatTimeout, rc.ElectionTimeout = hb, hb
	if err := p.raft.ReloadConfig(rc); err != nil {
		p.store.log.Warn("raft heartbeat timeout", "region", p.regionID, "err", err)
		return
	}
	q.quiescent.Store(idle)
}

// Quiescent reports whether the region's leader has slowed its heartbeats.
func (p *Peer) Quiescent() bool { return p.quiesce.quiescent.Load() }
