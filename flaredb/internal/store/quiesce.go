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
//     leadership, restores the busy leader's timeout (below).
//
// A busy leader needs its heartbeats even less: every pipelined append
// resets its followers' election timers, and hashicorp/raft still sends a
// heartbeat every HeartbeatTimeout/10 to /5 beside them (64 regions with
// two followers each send ~1,000 a second, against ~3,000 appends at
// ~1,500 puts/s, each a round trip through both transports). A leader whose region
// applies entries therefore runs with busyFactor × the election timeout:
// heartbeats every 0.2 to 0.4 of it. The lease reads (package raftlease)
// stay as they were: their lease is 0.8 of the followers' timeout, which
// is never changed, from the send time of the newest acked heartbeat, so
// with heartbeats at most 0.4 apart a lease never drops below the
// quarter where a read asks for a renewal round. Only the loss of
// leadership restores the configured timeout (a follower must detect a
// dead leader on time); the quiesce loop does that within a tick, and
// until then the larger timeout only makes the former leader vote and
// campaign later, which the lease argument allows.
const (
	defaultQuiesceAfter = 10 * time.Second
	quiescentFactor     = 3
	busyFactor          = 2
)

// quiesceState is one peer's idleness, touched only by the quiesce loop.
type quiesceState struct {
	applied   uint64
	since     time.Time
	factor    int         // raft's HeartbeatTimeout is factor × the election timeout (0: never set)
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
	factor := heartbeatFactor(leader, idle)
	if factor == q.factor || (q.factor == 0 && factor == 1) {
		return // raft starts with factor 1
	}
	hb := p.store.cfg.ElectionTimeout * time.Duration(factor)
	rc := p.raft.ReloadableConfig()
	// raft insists ElectionTimeout >= HeartbeatTimeout; a leader does not
	// use it, and a leader that steps down is restored within a tick.
	rc.HeartbeatTimeout, rc.ElectionTimeout = hb, hb
	if err := p.raft.ReloadConfig(rc); err != nil {
		p.store.log.Warn("raft heartbeat timeout", "region", p.regionID, "err", err)
		return
	}
	q.factor = factor
	q.quiescent.Store(idle)
}

// heartbeatFactor is the multiple of the election timeout a replica runs
// as raft's HeartbeatTimeout: followers 1, leaders busyFactor, idle
// leaders quiescentFactor.
func heartbeatFactor(leader, idle bool) int {
	switch {
	case idle:
		return quiescentFactor
	case leader:
		return busyFactor
	}
	return 1
}

// Quiescent reports whether the region's leader has slowed its heartbeats.
func (p *Peer) Quiescent() bool { return p.quiesce.quiescent.Load() }
