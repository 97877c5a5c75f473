package raftnode

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// watchLeadership tracks leadership changes. Each time this replica becomes
// leader it runs a Barrier: once it returns, an entry of the new term has
// been committed and applied, so the commit index is current and read
// indexes may be served.
func (n *Node) watchLeadership(ctx context.Context) {
	ch := n.raft.LeaderCh()
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-ch:
			gen := n.leaderGen.Add(1)
			n.signalReadiness()
			if isLeader {
				go n.confirmLeadership(ctx, gen)
			}
		}
	}
}

func (n *Node) confirmLeadership(ctx context.Context, gen uint64) {
	for ctx.Err() == nil && n.leaderGen.Load() == gen {
		err := n.raft.Barrier(5 * time.Second).Error()
		if err == nil {
			if n.leaderGen.Load() == gen {
				n.leaderReady.Store(gen)
				n.signalReadiness()
			}
			return
		}
		if n.raft.State() != raft.Leader {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (n *Node) signalReadiness() {
	n.readyMu.Lock()
	close(n.readyCh)
	n.readyCh = make(chan struct{})
	n.readyMu.Unlock()
}

// waitLeaderReady blocks until this replica is a leader whose term has an
// applied entry, or returns ErrNotLeader once it is not the leader.
func (n *Node) waitLeaderReady(ctx context.Context) error {
	for {
		n.readyMu.Lock()
		changed := n.readyCh
		n.readyMu.Unlock()
		if n.raft.State() != raft.Leader {
			return ErrNotLeader
		}
		gen := n.leaderGen.Load()
		if gen != 0 && n.leaderReady.Load() == gen {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
			// LeaderCh may drop intermediate signals; re-check state.
		}
	}
}
