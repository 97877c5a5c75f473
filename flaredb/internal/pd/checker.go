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
}

// placement is the view the replica checker decides from.
type placement struct {
	maxReplicas int
	now         time.Time
	downAfter   time.Duration
	stores      *storeSet
	load        func(storeID uint64) int // peers on the store, counting pending adds
}

// check picks at most one change that moves r toward maxReplicas healthy
// voters: promote a learner, add a voter, or remove a peer.
func (p placement) check(r *flaredbv1.Region, leader *flaredbv1.Peer) plan {
	peers := r.GetPeers()
	var healthy int
	var tombstoned, down []*flaredbv1.Peer
	for _, peer := range peers {
		st := p.stores.get(peer.GetStoreId())
		switch {
		case st != nil && isTombstone(st):
			tombstoned = append(tombstoned, peer)
		case st != nil && (p.stores.isDown(st, p.now, p.downAfter) || st.meta.GetState() == flaredbv1.StoreState_STORE_STATE_OFFLINE):
			// Replaced first, removed once the replacement exists.
			down = append(down, peer)
		default:
			healthy++
			if peer.GetRole() == flaredbv1.PeerRole_PEER_ROLE_LEARNER {
				return plan{op: &flaredbv1.ChangePeerOperator{Peer: &flaredbv1.Peer{
					Id: peer.GetId(), StoreId: peer.GetStoreId(), Role: flaredbv1.PeerRole_PEER_ROLE_VOTER,
				}}}
			}
		}
	}
	if victim := notLeader(tombstoned, leader); victim != nil {
		return plan{op: &flaredbv1.ChangePeerOperator{Peer: victim, Remove: true}}
	}
	if healthy < p.maxReplicas {
		if target := p.leastLoaded(r); target != 0 {
			return plan{addStore: target}
		}
	}
	if len(peers) > p.maxReplicas {
		victim := notLeader(down, leader)
		if victim == nil {
			victim = p.mostLoaded(peers, leader)
		}
		if victim != nil {
			return plan{op: &flaredbv1.ChangePeerOperator{Peer: victim, Remove: true}}
		}
	}
	return plan{}
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
