package raftnode

import (
	"github.com/hashicorp/raft"

	"github.com/photoncloud/core/pkg/raftlease"
)

// Lease reads. A ReadIndex confirms leadership with VerifyLeader, a
// heartbeat round to a quorum, per batch of reads. While the leader holds
// a lease (package raftlease: a quorum of voters accepted one of its
// appends recently enough that none of them votes for anyone else yet),
// ReadIndex answers with the commit index at once, under the same
// readyTerm rule (only once the term's first entry is applied); otherwise,
// or with Config.DisableLeaseRead, it takes the VerifyLeader path, whose
// round also renews the lease. Followers still ask the leader for the
// index, one RPC, which the leader now answers from its lease.
//
// The lease lasts raftlease.Fraction (0.8) of the followers' heartbeat
// timeout after the send time of the quorum's oldest accepted append.
// Here every member's raft HeartbeatTimeout and ElectionTimeout are its
// Config.ElectionTimeout (raftConfig), so the lease is 0.8 ×
// ElectionTimeout, and it holds only if:
//
//   - every member runs with the same ElectionTimeout (etcd's
//     --election-timeout): a follower with a shorter one forgets the
//     leader, and votes, before the leader's lease ends;
//   - monotonic clocks run at rates within 20% of each other (the margin
//     left by the 0.8).
//
// CommitTimeout and LeaderLeaseTimeout do not enter: the first only paces
// empty appends (which, like heartbeats and the commit notifier's appends,
// keep followers' last contact fresh), the second is how long the leader
// itself keeps leading without a quorum.
//
// A member refuses every vote and pre-vote that is not a leadership
// transfer for one ElectionTimeout after it starts (raftlease.VoteHold),
// so a follower that restarts cannot help elect a rival while a lease it
// fed still runs; a transfer revokes the lease before TimeoutNow is sent.
// The hold runs whether or not this member serves lease reads, so members
// with the lease on are safe next to members with it off.

// wrapTransport creates the node's lease and vote hold and returns the
// transport raft runs on: n.trans feeding the lease, with incoming votes
// held for one election timeout from now. Call startHold once raft runs.
func (n *Node) wrapTransport(rc *raft.Config) raft.Transport {
	n.lease = raftlease.New(!n.cfg.DisableLeaseRead, n.cfg.ElectionTimeout)
	n.hold = raftlease.NewVoteHold(n.trans.Consumer(), n.cfg.ElectionTimeout, raftlease.Header(rc, n.trans))
	return raftlease.NewTransport(n.trans, n.lease, n.hold, func() uint64 { return n.raft.CurrentTerm() })
}

// leaseRead returns the read index the lease allows, or false when the
// read must confirm leadership with VerifyLeader.
func (n *Node) leaseRead() (uint64, bool) { return n.lease.Read(n.leaseReplica()) }

func (n *Node) leaseReplica() raftlease.Replica {
	return raftlease.Replica{Raft: n.raft, ID: n.cfg.ID, ReadyTerm: n.readyTerm.Load}
}

// LeaseStats reports how many read indexes this replica answered from its
// lease and how many VerifyLeader rounds it ran for reads (ReadIndex
// batches and lease renewals).
func (n *Node) LeaseStats() (leaseReads, rounds uint64) { return n.lease.Stats() }
