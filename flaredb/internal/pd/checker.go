package pd

import (
	"time"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// operatorTimeout is how long PD repeats one membership change to a
// region's leader before it gives up on it and plans afresh.
const operatorTimeout = time.Minute

// pendingOp is a membership change PD asked a leader to make, remembered
// so repeated heartbeats get the same instruction (and the same new peer
// id) until the region's conf_ver moves.
type pendingOp struct {
	op      *flaredbv1.ChangePeerOperator
	confVer uint64
	created time.Time
}

// plan is the replica checker's decision for one region.
type plan struct {
	// addStore is the store that should get a new voter (0: none).
	addStore uint64
	// op is a change that needs no new id (promotion or removal).
	op *flaredbv1.ChangePeerOperator
	// reason says why, for the log.
	reason string
}

// placement is the view the replica checker decides from.
type placement struct {
	maxReplicas     int
	now             time.Time
	downAfter       time.Duration
	maxPeerDownTime time.Duration
	stores          *storeSet
	load            func(storeID uint64) int // peers on the store, counting pending adds
}

// peerHealth sorts a region's peers for the checker.
type peerHealth struct {
	healthy    int
	learner    *flaredbv1.Peer   // a healthy learner to promote
	tombstoned []*flaredbv1.Peer // on tombstoned stores: removed at once
	down       []*flaredbv1.Peer // on down or offline stores: replaced, then removed
	dead       []*flaredbv1.Peer // unreachable on an up store: removed even with no replacement yet
}

func (p placement) classify(r *flaredbv1.Region, downPeers []*flaredbv1.PeerStats) peerHealth {
	downMs := make(map[uint64]uint64, len(downPeers))
	for _, d := range downPeers {
		downMs[d.GetPeer().GetId()] = d.GetDownMs()
	}
	var h peerHealth
	for _, peer := range r.GetPeers() {
		st := p.stores.get(peer.GetStoreId())
		ms, reported := downMs[peer.GetId()]
		switch {
		case st != nil && isTombstone(st):
			h.tombstoned = append(h.tombstoned, peer)
		case st != nil && (p.stores.isDown(st, p.now, p.downAfter) || st.meta.GetState() == flaredbv1.StoreState_STORE_STATE_OFFLINE):
			h.down = append(h.down, peer)
		case st != nil && reported && p.unreachableOnLiveStore(st, ms):
			h.dead = append(h.dead, peer)
		default:
			h.healthy++
			if h.learner == nil && peer.GetRole() == flaredbv1.PeerRole_PEER_ROLE_LEARNER {
				h.learner = peer
			}
		}
	}
	return h
}

// unreachableOnLiveStore reports whether the leader has failed to reach a
// peer (for downMs, as of now) during at least maxPeerDownTime of which its
// store kept heartbeating to PD. A store that is down, or that has only
// just come back (its replicas reconnect within moments), does not count:
// the store-down rules handle the former, and the latter heals itself.
func (p placement) unreachableOnLiveStore(st *storeInfo, downMs uint64) bool {
	if st.lastHeartbeat.IsZero() || st.startedAt.IsZero() {
		return false
	}
	from := p.now.Add(-time.Duration(downMs) * time.Millisecond)
	if st.startedAt.After(from) {
		from = st.startedAt
	}
	return st.lastHeartbeat.Sub(from) >= p.maxPeerDownTime
}

// check picks at most one change that moves r toward maxReplicas healthy
// voters: promote a learner, add a voter, or remove a peer. downPeers are
// the peers the leader reports it cannot reach.
func (p placement) check(r *flaredbv1.Region, leader *flaredbv1.Peer, downPeers []*flaredbv1.PeerStats) plan {
	h := p.classify(r, downPeers)
	if h.learner != nil {
		return plan{op: &flaredbv1.ChangePeerOperator{Peer: &flaredbv1.Peer{
			Id: h.learner.GetId(), StoreId: h.learner.GetStoreId(), Role: flaredbv1.PeerRole_PEER_ROLE_VOTER,
		}}, reason: "promote learner"}
	}
	if victim := notLeader(h.tombstoned, leader); victim != nil {
		return remove(victim, "store tombstoned")
	}
	if h.healthy < p.maxReplicas {
		if target := p.leastLoaded(r); target != 0 {
			return plan{addStore: target, reason: "under-replicated"}
		}
	}
	if len(r.GetPeers()) > p.maxReplicas {
		if victim := notLeader(h.dead, leader); victim != nil {
			return remove(victim, "replaced unreachable peer")
		}
		if victim := notLeader(h.down, leader); victim != nil {
			return remove(victim, "replaced peer on down store")
		}
		if victim := p.mostLoaded(r.GetPeers(), leader); victim != nil {
			return remove(victim, "over-replicated")
		}
	}
	// No store can take a replacement: every one holds a peer of the
	// region. A peer that is unreachable while its store is up is removed
	// first, which frees its store for a new peer with a new id (typically
	// the store missed a split and never created this replica).
	if victim := notLeader(h.dead, leader); victim != nil {
		return remove(victim, "unreachable peer, no free store")
	}
	return plan{}
}

func remove(peer *flaredbv1.Peer, reason string) plan {
	return plan{op: &flaredbv1.ChangePeerOperator{Peer: peer, Remove: true}, reason: reason}
}

// leastLoaded returns the placeable store with the fewest peers that holds
// no peer of r (ties: more available space, then lower id), or 0.
func (p placement) leastLoaded(r *flaredbv1.Region) uint64 {
	used := make(map[uint64]bool, len(r.GetPeers()))
	for _, peer := range r.GetPeers() {
		used[peer.GetStoreId()] = true
	}
	var best *storeInfo
	for _, st := range p.stores.sorted() {
		if used[st.meta.GetId()] || !p.stores.placeable(st, p.now, p.downAfter) {
			continue
		}
		if best == nil || p.lessLoaded(st, best) {
			best = st
		}
	}
	if best == nil {
		return 0
	}
	return best.meta.GetId()
}

func (p placement) lessLoaded(a, b *storeInfo) bool {
	la, lb := p.load(a.meta.GetId()), p.load(b.meta.GetId())
	if la != lb {
		return la < lb
	}
	return a.stats.GetAvailable() > b.stats.GetAvailable()
}

// mostLoaded returns the peer, other than the leader, on the store with
// the most peers.
func (p placement) mostLoaded(peers []*flaredbv1.Peer, leader *flaredbv1.Peer) *flaredbv1.Peer {
	var victim *flaredbv1.Peer
	for _, peer := range peers {
		if peer.GetId() == leader.GetId() {
			continue
		}
		if victim == nil || p.load(peer.GetStoreId()) > p.load(victim.GetStoreId()) {
			victim = peer
		}
	}
	return victim
}

func notLeader(peers []*flaredbv1.Peer, leader *flaredbv1.Peer) *flaredbv1.Peer {
	for _, peer := range peers {
		if peer.GetId() != leader.GetId() {
			return peer
		}
	}
	return nil
}
