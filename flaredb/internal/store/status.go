package store

import (
	"context"
	"strconv"

	"github.com/photoncloud/core/flaredb/internal/region"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Status describes the replica for the admin service. The key count is
// left out: counting needs a scan, which a status call should not cost.
func (p *Peer) Status() *flaredbv1.RegionStatus {
	st := &flaredbv1.RegionStatus{
		RaftState: p.raft.State().String(),
		Leader:    p.leaderHint(),
		PeerState: flaredbv1.PeerState_PEER_STATE_APPLYING,
	}
	if rep := p.fsm.replica(); rep != nil {
		st.Region = rep.Region()
		st.PeerState = rep.PeerState()
		st.AppliedIndex, st.AppliedTerm = rep.Applied()
		st.ApproximateSize, _ = rep.ApproximateSize()
	} else {
		st.Region = &flaredbv1.Region{Id: p.regionID, Peers: []*flaredbv1.Peer{{Id: p.peerID}}}
	}
	return st
}

// ID is the region id.
func (p *Peer) ID() uint64 { return p.regionID }

// PeerID is this replica's peer id.
func (p *Peer) PeerID() uint64 { return p.peerID }

// RaftStats exposes hashicorp/raft's counters (for debugging).
func (p *Peer) RaftStats() map[string]string {
	st := p.raft.Stats()
	st["peer_id"] = strconv.FormatUint(p.peerID, 10)
	return st
}

// LocalGet reads key from this replica without any leader check: what
// the replica has applied so far (tests and debugging; clients read
// through the KV service).
func (p *Peer) LocalGet(ctx context.Context, key []byte) ([]byte, bool, error) {
	rep := p.fsm.replica()
	if rep == nil {
		return nil, false, region.RegionNotFoundError(p.regionID)
	}
	r := rep.Region()
	return rep.Get(ctx, &flaredbv1.Context{RegionId: r.GetId(), RegionEpoch: r.GetEpoch()}, key)
}
