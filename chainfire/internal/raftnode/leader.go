package raftnode

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// watchLeadership tracks leadership changes. Each time this replica becomes
// leader it commits an empty command of its new term (see
// confirmLeadership); once that is applied the commit index is current and
// read indexes may be served.
func (n *Node) watchLeadership(ctx context.Context) {
	ch := n.raft.LeaderCh()
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-ch:
			n.signalReadiness()
			if isLeader {
				n.wg.Add(1)
				go func() { defer n.wg.Done(); n.confirmLeadership(ctx) }()
			}
		}
	}
}

// confirmLeadership commits and applies an empty command in the current
// term, then records that term as ready.
//
// The entry is a command, not a Barrier, on purpose: hashicorp/raft never
// hands its own entries (the new leader's no-op, barriers) to the state
// machine, so the state machine's applied index would stop short of them.
// A read index pointing at such an entry is then reached only by the next
// write, and a follower that received a snapshot ending in such entries has
// no log to prove they were internal: its linearizable reads would block
// until someone writes. An applied empty command moves the state machine's
// index past the leader's no-op, so a read index always lands on an entry
// the state machine applies (etcd's leader appends an empty entry likewise).
func (n *Node) confirmLeadership(ctx context.Context) {
	for ctx.Err() == nil && n.raft.State() == raft.Leader {
		term := n.raft.CurrentTerm()
		if n.readyTerm.Load() >= term {
			return
		}
		err := awaitFuture(ctx, n.raft.Apply(nil, 5*time.Second))
		// Leadership is held for one contiguous stretch per term (winning
		// again needs a new election, hence a new term), so an entry
		// applied while the term did not change was committed by this
		// leadership.
		if err == nil && n.raft.CurrentTerm() == term {
			n.markReady(term)
			return
		}
		if n.raft.State() != raft.Leader {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// markReady raises readyTerm to term; it never lowers it, so a slow
// confirmation of an older leadership cannot undo a newer one.
func (n *Node) markReady(term uint64) {
	for {
		cur := n.readyTerm.Load()
		if cur >= term || n.readyTerm.CompareAndSwap(cur, term) {
			break
		}
	}
	n.signalReadiness()
}

func (n *Node) signalReadiness() {
	n.readyMu.Lock()
	close(n.readyCh)
	n.readyCh = make(chan struct{})
	n.readyMu.Unlock()
}

// waitLeaderReady blocks until this replica is a leader whose current term
// has an applied entry and returns that term, or returns ErrNotLeader once
// it is not the leader.
//
// Readiness is keyed by term, not by counting LeaderCh signals: that
// channel may drop intermediate values, and a leadership lost and regained
// between two reads of it would otherwise pass for the old, confirmed one
// while the new term's commit index may still lag.
func (n *Node) waitLeaderReady(ctx context.Context) (uint64, error) {
	for {
		n.readyMu.Lock()
		changed := n.readyCh
		n.readyMu.Unlock()
		if n.raft.State() != raft.Leader {
			return 0, ErrNotLeader
		}
		term := n.raft.CurrentTerm()
		if n.readyTerm.Load() == term {
			return term, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
			// LeaderCh may drop intermediate signals; re-check state.
		}
	}
}

// ReadyTerm returns the current term and true when this replica is the
// leader and has applied an entry of that term, so its state machine holds
// everything committed before it: the point where leader-only duties
// (lease expiry) may start.
func (n *Node) ReadyTerm() (uint64, bool) {
	if n.raft.State() != raft.Leader {
		return 0, false
	}
	term := n.raft.CurrentTerm()
	return term, n.readyTerm.Load() == term
}
