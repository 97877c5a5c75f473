package raftlease

import (
	"time"

	"github.com/hashicorp/raft"
)

// Base is the transport a Transport wraps: hashicorp's NetworkTransport,
// or a type embedding it. The optional interfaces are required so that
// raft still finds them on the wrapper (pre-vote, close on shutdown).
type Base interface {
	raft.Transport
	raft.WithClose
	raft.WithPreVote
}

// Transport feeds a Lease and, optionally, filters incoming RPCs through
// a VoteHold; every other method is Base's.
//
// It records when each AppendEntries a follower accepted was sent, and
// ends the lease of the current term before a leadership transfer lets
// followers vote against their leader. Pipelined appends are not recorded
// (raft's heartbeats, which do not use the pipeline, keep the lease
// fresh).
type Transport struct {
	Base
	lease *Lease
	hold  *VoteHold     // nil: RPCs go to raft as Base delivers them
	term  func() uint64 // the raft group's current term
}

// NewTransport wraps base. term returns the group's current term; it is
// called only once raft runs, so it may read a *raft.Raft set after
// raft.NewRaft returns. hold may be nil.
func NewTransport(base Base, lease *Lease, hold *VoteHold, term func() uint64) Transport {
	return Transport{Base: base, lease: lease, hold: hold, term: term}
}

// AppendEntries sends the RPC and records an accepted one in the lease.
func (t Transport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	// The send time is taken before the request leaves: the follower
	// accepts it, and restarts its election timer, only later.
	sent := time.Now()
	err := t.Base.AppendEntries(id, target, args, resp)
	if err == nil && resp.Success {
		t.lease.Acked(args.Term, id, sent)
	}
	return err
}

// TimeoutNow revokes the current term's lease, then starts the transfer.
func (t Transport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	// The target campaigns at once and followers vote for it although
	// they have a leader: stop serving lease reads first.
	t.lease.Revoke(t.term())
	return t.Base.TimeoutNow(id, target, args, resp)
}

// Consumer is the hold's output when there is a hold.
func (t Transport) Consumer() <-chan raft.RPC {
	if t.hold != nil {
		return t.hold.out
	}
	return t.Base.Consumer()
}
