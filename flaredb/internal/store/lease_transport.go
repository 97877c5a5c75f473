package store

import (
	"time"

	"github.com/hashicorp/raft"
)

// leaseTransport feeds the region's lease (lease.go): it records when
// each AppendEntries a follower accepted was sent, and ends the lease of
// the current term before a leadership transfer lets followers vote
// against their leader. Pipelined appends are not recorded (raft's
// heartbeats, which do not use the pipeline, keep the lease fresh).
type leaseTransport struct {
	countingTransport
	lease *leaseState
	term  func() uint64 // the raft group's current term
}

func (t leaseTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	// The send time is taken before the request leaves: the follower
	// accepts it, and restarts its election timer, only later.
	sent := time.Now()
	err := t.countingTransport.AppendEntries(id, target, args, resp)
	if err == nil && resp.Success {
		t.lease.acked(args.Term, id, sent)
	}
	return err
}

func (t leaseTransport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	// The target campaigns at once and followers vote for it although
	// they have a leader: stop serving lease reads first.
	t.lease.revoke(t.term())
	return t.countingTransport.TimeoutNow(id, target, args, resp)
}
