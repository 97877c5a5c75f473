package raftlease

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// VoteHold closes the restart hole of lease reads. A follower that acked
// a leader's AppendEntries rejects votes until HeartbeatTimeout after that
// contact, but a follower that restarts has forgotten its leader and would
// vote at once, possibly while the leader's lease still runs. So for one
// election timeout after the replica starts (as TiKV does), VoteHold
// answers RequestVote and RequestPreVote itself as rejected, with the
// replica's current term, exactly as raft answers when it has a leader:
// the candidate just loses this round. The replica's last ack was sent
// before it started, so the lease it fed has ended when the hold does.
//
// Votes for a leadership transfer pass: raft grants them even with a
// leader, and the old leader revokes its lease before TimeoutNow
// (Transport). Pre-votes are never part of a transfer. A replica's vote
// for itself never crosses the transport, so a single voter still elects
// itself (one timeout after start, as always).
//
// It sits on the Consumer side of the transport: raft reads its RPCs from
// the hold, which a goroutine fills from the network transport's channel.
type VoteHold struct {
	in     <-chan raft.RPC
	out    chan raft.RPC
	until  time.Time        // end of the hold
	header raft.RPCHeader   // this replica, for the responses it makes
	term   func() uint64    // the replica's current term
	now    func() time.Time // time.Now; tests replace it

	refused atomic.Uint64 // votes and pre-votes answered as rejected

	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// NewVoteHold holds votes arriving on in for window from now. Call Start
// once raft runs and Stop when the replica shuts down.
func NewVoteHold(in <-chan raft.RPC, window time.Duration, header raft.RPCHeader) *VoteHold {
	return &VoteHold{
		in: in, out: make(chan raft.RPC), until: time.Now().Add(window),
		header: header, now: time.Now, done: make(chan struct{}),
	}
}

// Header is the RPC header of the replica rc configures on trans, for
// NewVoteHold.
func Header(rc *raft.Config, trans raft.Transport) raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: rc.ProtocolVersion, ID: []byte(rc.LocalID),
		Addr: trans.EncodePeer(rc.LocalID, trans.LocalAddr())}
}

// Start begins forwarding to raft; term reads the replica's current term.
// RPCs that arrive before wait in the network transport.
func (h *VoteHold) Start(term func() uint64) {
	h.term = term
	h.wg.Add(1)
	go func() { defer h.wg.Done(); h.run() }()
}

// Stop ends forwarding; it is safe to call more than once, and without
// Start.
func (h *VoteHold) Stop() {
	h.stopOnce.Do(func() { close(h.done) })
	h.wg.Wait()
}

// Until is when the hold ends.
func (h *VoteHold) Until() time.Time { return h.until }

// Refused is the number of votes and pre-votes the hold answered as
// rejected.
func (h *VoteHold) Refused() uint64 { return h.refused.Load() }

func (h *VoteHold) run() {
	holding := true
	for {
		var rpc raft.RPC
		select {
		case rpc = <-h.in:
		case <-h.done:
			return
		}
		if holding && !h.now().Before(h.until) {
			holding = false
		}
		if holding && h.refuse(rpc) {
			continue
		}
		select {
		case h.out <- rpc:
		case <-h.done:
			return
		}
	}
}

// refuse answers rpc as a rejected vote if it is one that must wait; it
// reports whether it did.
func (h *VoteHold) refuse(rpc raft.RPC) bool {
	switch req := rpc.Command.(type) {
	case *raft.RequestVoteRequest:
		if req.LeadershipTransfer {
			return false
		}
		rpc.Respond(&raft.RequestVoteResponse{RPCHeader: h.header, Term: h.term(), Granted: false}, nil)
		h.refused.Add(1)
		return true
	case *raft.RequestPreVoteRequest:
		rpc.Respond(&raft.RequestPreVoteResponse{RPCHeader: h.header, Term: h.term(), Granted: false}, nil)
		h.refused.Add(1)
		return true
	}
	return false
}
