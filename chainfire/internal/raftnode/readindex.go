package raftnode

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// readIndexer confirms leadership for batches of linearizable reads: every
// read that arrives while a confirmation is in flight waits for the next
// one, and one round of heartbeats serves the whole batch. Reads the lease
// answers (lease.go) never reach it; it also runs the round a lease read
// asks for when the lease is about to expire, which renews it.
type readIndexer struct {
	n    *Node
	reqs chan chan readIndexResult
}

type readIndexResult struct {
	index uint64
	err   error
}

func newReadIndexer(n *Node) *readIndexer {
	return &readIndexer{n: n, reqs: make(chan chan readIndexResult, 4096)}
}

func (r *readIndexer) run(ctx context.Context) {
	batch := make([]chan readIndexResult, 0, 256)
	for {
		select {
		case <-ctx.Done():
			return
		case first := <-r.reqs:
			batch = append(batch[:0], first)
		case <-r.n.lease.Renewals():
			// One round, shared by whatever reads arrive meanwhile,
			// renews the lease.
			batch = batch[:0]
		}
	drain:
		for {
			select {
			case c := <-r.reqs:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		res := r.confirm(ctx)
		for _, c := range batch {
			c <- res
		}
	}
}

// confirm records the commit index, then proves this replica is still the
// leader at that point by hearing from a quorum.
//
// The term must be the ready one both before the commit index is read and
// after leadership is verified: then this replica led, continuously, from
// applying its term's first entry (so the commit index covers everything
// earlier leaders committed) through the moment a quorum confirmed it.
func (r *readIndexer) confirm(ctx context.Context) readIndexResult {
	n := r.n
	term, err := n.waitLeaderReady(ctx)
	if err != nil {
		return readIndexResult{err: err}
	}
	index := n.raft.CommitIndex()
	n.lease.CountRound()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return readIndexResult{err: fmt.Errorf("%w: %v", ErrNotLeader, mapRaftError(err))}
	}
	if n.raft.CurrentTerm() != term {
		return readIndexResult{err: fmt.Errorf("%w: term changed while confirming a read index", ErrNotLeader)}
	}
	return readIndexResult{index: index}
}

// ReadIndex returns an index such that a read served after the state
// machine has applied it is linearizable. Only the leader can answer;
// followers ask the leader (see the member layer). While the leader holds
// its lease the answer is the commit index, at once (lease.go).
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if index, ok := n.leaseRead(); ok {
		return index, nil
	}
	c := make(chan readIndexResult, 1)
	select {
	case n.reads.reqs <- c:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case res := <-c:
		return res.index, res.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// LinearizableBarrier waits until a read on this leader's state machine is
// linearizable: it obtains a read index and waits for it to be applied.
func (n *Node) LinearizableBarrier(ctx context.Context) error {
	index, err := n.ReadIndex(ctx)
	if err != nil {
		return err
	}
	return n.WaitApplied(ctx, index)
}

// WaitApplied blocks until the state machine reflects every entry up to
// index. Entries the state machine never sees (the no-op and barriers a
// leader appends) would otherwise leave it waiting for the next write, so
// once Raft has dispatched past index, a gap made only of such entries
// counts as applied.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		applied := n.fsm.AppliedIndex()
		if applied >= index {
			return nil
		}
		if n.raft.AppliedIndex() >= index && n.onlyInternalEntries(applied+1, index) {
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Millisecond)
		err := n.fsm.WaitApplied(wctx, index)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// onlyInternalEntries reports whether no entry in [from, to] reaches the
// state machine.
func (n *Node) onlyInternalEntries(from, to uint64) bool {
	var l raft.Log
	for i := from; i <= to; i++ {
		if err := n.logs.GetLog(i, &l); err != nil {
			return false
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return false
		}
	}
	return true
}
