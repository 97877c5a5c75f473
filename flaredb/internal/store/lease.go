package store

import (
	"time"

	"github.com/photoncloud/core/pkg/raftlease"
)

// Lease reads (TiKV's LeaseRead). A ReadIndex costs a heartbeat round to a
// quorum per batch of reads, and with many regions reads hardly batch per
// region. A region leader that knows no other leader can exist yet reads
// its commit index without that round. The argument, and what it assumes,
// is in package raftlease; each region has its own raftlease.Lease, fed by
// the region's transport (peer.go), and a vote hold after every replica
// start.
//
// What is particular to regions:
//
//   - The lease's timeout is the store's ElectionTimeout, which is every
//     follower's HeartbeatTimeout: quiescing (quiesce.go) only raises a
//     leader's own timeouts, never a follower's, so it does not shorten
//     anything here. Every store of a cluster must run with the same
//     election timeout.
//   - A split needs nothing more: a read captures the commit index after
//     it started and waits until it is applied, and a split's child can
//     have a leader only after its stores applied the split, which this
//     leader had committed before; the replica then rejects keys that
//     moved.
//   - The vote hold starts whether the store restarted or the replica was
//     created; a single-voter region votes for itself without the
//     transport.
//   - No timer runs per region (a read about to find the lease expired
//     asks readLoop for a round), so idle regions stay quiet.

// leaseRead returns the index a linearizable read must wait for when this
// replica holds a valid lease, or false when the read must take the
// ReadIndex path.
func (p *Peer) leaseRead() (uint64, bool) { return p.lease.Read(p.leaseReplica()) }

// leaseExpiry returns the term this replica leads, with reads ready, and
// when its lease of that term ends; the zero time means it has none.
func (p *Peer) leaseExpiry() (uint64, time.Time) { return p.lease.Check(p.leaseReplica()) }

func (p *Peer) leaseReplica() raftlease.Replica {
	return raftlease.Replica{Raft: p.raft, ID: serverID(p.peerID), ReadyTerm: p.readyTerm.Load}
}

// LeaseStats reports how many reads this replica served by its lease and
// how many VerifyLeader rounds it ran (ReadIndex reads and renewals).
func (p *Peer) LeaseStats() (leaseReads, rounds uint64) { return p.lease.Stats() }
