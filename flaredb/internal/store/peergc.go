package store

import (
	"context"
	"time"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Collecting replicas that were removed without learning it.
//
// A replica destroys itself when it applies the metadata change that
// removes its peer (onConfChanged). Often it never sees that change: the
// leader removes the peer from the Raft configuration first and stops
// replicating to it, and a peer removed because its store was down was
// not listening anyway. Such a replica keeps its data and its Raft group
// for good: one that saw the configuration change sits silent, one that
// did not asks for votes every election timeout and is refused.
//
// As TiKV does for a peer that misses its leader for long, the store asks
// PD about every replica that has heard no leader for PeerGCAfter. It
// destroys the replica only on proof from PD's routing table, which
// follows what the region's leaders applied: the region's membership there
// is newer than the replica's own (a higher conf_ver) and no longer
// holds the replica's peer. A replica cut off from a healthy leader fails
// the first test (PD lists its peer at the same or an older conf_ver), and
// so does a new peer waiting for its first snapshot, which has no
// metadata of its own and is left alone. Whatever PD cannot prove, or an
// unreachable PD, leaves the replica as it is.

// defaultPeerGCAfter is Config.PeerGCAfter's default.
const defaultPeerGCAfter = time.Minute

func (s *Store) peerGCLoop() {
	if s.pd == nil {
		return
	}
	s.every(max(s.cfg.PeerGCAfter/4, time.Second), func(ctx context.Context) {
		for _, p := range s.Peers() {
			if ctx.Err() != nil {
				return
			}
			if s.leaderMissing(p) {
				s.collectIfRemoved(ctx, p)
			}
		}
	})
}

// leaderMissing reports whether p has heard no leader for PeerGCAfter
// (counted from when it started when it never heard one).
func (s *Store) leaderMissing(p *Peer) bool {
	if p.IsLeader() {
		return false
	}
	last := p.raft.LastContact()
	if last.Before(p.started) {
		last = p.started
	}
	return time.Since(last) >= s.cfg.PeerGCAfter
}

// collectIfRemoved asks PD about p's region and destroys p if PD proves
// its peer was removed.
func (s *Store) collectIfRemoved(ctx context.Context, p *Peer) {
	local := p.Region()
	if local == nil {
		return // waiting for its first snapshot: nothing to compare
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HeartbeatInterval)
	defer cancel()
	resp, err := s.pd.GetRegionByID(ctx, &flaredbv1.GetRegionByIDRequest{RegionId: p.regionID})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("peer gc: ask PD", "region", p.regionID, "err", err)
		}
		return
	}
	if provenRemoved(local.GetEpoch().GetConfVer(), p.peerID, p.regionID, resp.GetRegion()) != nil {
		return
	}
	s.log.Info("peer gc: replica was removed from its region",
		"region", p.regionID, "peer", p.peerID,
		"local_conf_ver", local.GetEpoch().GetConfVer(), "pd_conf_ver", resp.GetRegion().GetEpoch().GetConfVer())
	if err := s.destroyPeer(p); err != nil {
		s.log.Error("peer gc: destroy removed replica", "region", p.regionID, "err", err)
	}
}
