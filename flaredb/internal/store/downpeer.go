package store

import (
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Down peers. A region leader reports in its region heartbeat the
// followers it has failed to reach for a while, like TiKV's down_peers; PD's
// replica checker replaces a peer that stays down while its store is up
// (see pd/checker.go). The case this exists for: a store that missed a split
// (it was down, then caught the parent up from a snapshot taken after the
// split) never creates the child's replica, so the child's leader can
// never reach that peer; PD removes it and adds a new one, on the same
// store if no other store is free.
//
// hashicorp/raft does not expose a leader's per-follower contact times;
// it does report every failed heartbeat to a follower (with the last
// successful contact) and the first success after failures, as
// observations. downTracker follows them from the observer's filter
// function, which raft calls synchronously, so tracking costs no goroutine
// and no channel per region.

// downReportAfter is how many election timeouts a follower must have been
// unreachable before its leader reports it: a single lost heartbeat or a
// follower restarting is not news for PD.
const downReportAfter = 3

// downTracker is a leader's view of unreachable followers.
type downTracker struct {
	once  sync.Once
	mu    sync.Mutex
	since map[raft.ServerID]time.Time // unreachable since (last contact)
}

// observe is the raft observer filter; it records and never forwards.
func (d *downTracker) observe(o *raft.Observation) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch ob := o.Data.(type) {
	case raft.FailedHeartbeatObservation:
		if d.since == nil {
			d.since = map[raft.ServerID]time.Time{}
		}
		if _, ok := d.since[ob.PeerID]; !ok {
			at := ob.LastContact
			if at.IsZero() {
				at = time.Now()
			}
			d.since[ob.PeerID] = at
		}
	case raft.ResumedHeartbeatObservation:
		delete(d.since, ob.PeerID)
	case raft.PeerObservation:
		if ob.Removed {
			delete(d.since, ob.Peer.ID)
		}
	case raft.LeaderObservation:
		// A new term restarts replication (and its failure counting): a
		// follower that answers the new leader at once would never be
		// reported resumed.
		clear(d.since)
	}
	return false
}

// report lists meta's peers unreachable for at least minDown at now.
func (d *downTracker) report(meta *flaredbv1.Region, now time.Time, minDown time.Duration) []*flaredbv1.PeerStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.since) == 0 {
		return nil
	}
	var out []*flaredbv1.PeerStats
	for _, p := range meta.GetPeers() {
		since, ok := d.since[raft.ServerID(strconv.FormatUint(p.GetId(), 10))]
		if !ok || now.Sub(since) < minDown {
			continue
		}
		out = append(out, &flaredbv1.PeerStats{
			Peer:   &flaredbv1.Peer{Id: p.GetId(), StoreId: p.GetStoreId(), Role: p.GetRole()},
			DownMs: uint64(now.Sub(since).Milliseconds()),
		})
	}
	return out
}

// DownPeers lists the followers this leader has failed to reach for at
// least downReportAfter election timeouts (nil on a follower).
func (p *Peer) DownPeers() []*flaredbv1.PeerStats {
	meta := p.Region()
	if meta == nil || !p.IsLeader() {
		return nil
	}
	return p.down.report(meta, time.Now(), downReportAfter*p.store.cfg.ElectionTimeout)
}

// watchDownPeers registers p's down-peer tracking with its raft group,
// once. Registering after the group started loses nothing that matters:
// raft repeats a failing heartbeat's observation (with the follower's last
// contact) at every retry.
func (p *Peer) watchDownPeers() {
	p.down.once.Do(func() {
		p.raft.RegisterObserver(raft.NewObserver(nil, false, p.down.observe))
	})
}
