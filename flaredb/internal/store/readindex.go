package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// errNotLeader is turned into a NotLeader region error by the caller.
var errNotLeader = errors.New("not leader")

// Linearizable reads. hashicorp/raft has no ReadIndex, so a region leader
// builds one:
//
//  1. Each time a replica becomes leader it commits an empty command of its
//     term (watchLeadership); until that is applied its commit index may
//     not cover what earlier leaders committed, so reads wait for it.
//  2. A read records the commit index, then VerifyLeader proves with a
//     quorum round that no newer leader exists. Reads arriving while a
//     round is in flight share the next one (readLoop), so one heartbeat
//     round serves a whole batch.
//  3. The read waits until the region's state machine has applied that
//     index and then reads the engine.
//
// While the leader holds a lease (lease.go, package raftlease) step 2 is
// skipped: the read takes the commit index at once. The VerifyLeader
// rounds of step 2 renew the lease, so after a lapse the reads sharing one
// round bring it back.

func (p *Peer) watchLeadership(ctx context.Context) {
	ch := p.raft.LeaderCh()
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-ch:
			p.signal()
			if isLeader {
				p.wg.Add(1)
				go func() { defer p.wg.Done(); p.confirmLeadership(ctx) }()
			}
		}
	}
}

func (p *Peer) confirmLeadership(ctx context.Context) {
	for ctx.Err() == nil && p.raft.State() == raft.Leader {
		term := p.raft.CurrentTerm()
		if p.readyTerm.Load() >= term {
			return
		}
		err := p.await(ctx, p.raft.Apply(nil, 5*time.Second))
		if err == nil && p.raft.CurrentTerm() == term {
			for cur := p.readyTerm.Load(); cur < term && !p.readyTerm.CompareAndSwap(cur, term); cur = p.readyTerm.Load() {
			}
			p.signal()
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (p *Peer) signal() {
	p.readyMu.Lock()
	close(p.readyCh)
	p.readyCh = make(chan struct{})
	p.readyMu.Unlock()
}

// waitReady returns the current term once this replica leads it with an
// applied entry of that term, or errNotLeader.
func (p *Peer) waitReady(ctx context.Context) (uint64, error) {
	for {
		p.readyMu.Lock()
		changed := p.readyCh
		p.readyMu.Unlock()
		if p.raft.State() != raft.Leader {
			return 0, errNotLeader
		}
		term := p.raft.CurrentTerm()
		if p.readyTerm.Load() == term {
			return term, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type readResult struct {
	index uint64
	err   error
}

func (p *Peer) readLoop(ctx context.Context) {
	batch := make([]chan readResult, 0, 64)
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-p.reads:
			batch = append(batch[:0], c)
		case <-p.lease.Renewals():
			// A lease read found the lease about to expire: one round,
			// shared by whatever reads arrive meanwhile, renews it.
			batch = batch[:0]
		}
	drain:
		for {
			select {
			case c := <-p.reads:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		res := p.confirmRead(ctx)
		for _, c := range batch {
			c <- res
		}
	}
}

func (p *Peer) confirmRead(ctx context.Context) readResult {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	term, err := p.waitReady(wctx)
	if err != nil {
		return readResult{err: err}
	}
	index := p.raft.CommitIndex()
	p.lease.CountRound()
	if err := p.await(wctx, p.raft.VerifyLeader()); err != nil {
		return readResult{err: fmt.Errorf("%w: %v", errNotLeader, err)}
	}
	if p.raft.CurrentTerm() != term {
		return readResult{err: fmt.Errorf("%w: term changed", errNotLeader)}
	}
	return readResult{index: index}
}

// readBarrier returns once a read of the local replica is linearizable.
func (p *Peer) readBarrier(ctx context.Context) error {
	if index, ok := p.leaseRead(); ok {
		return p.waitApplied(ctx, index)
	}
	c := make(chan readResult, 1)
	select {
	case p.reads <- c:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stopCh:
		return errNotLeader
	}
	var res readResult
	select {
	case res = <-c:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stopCh:
		return errNotLeader
	}
	if res.err != nil {
		return res.err
	}
	return p.waitApplied(ctx, res.index)
}

// waitApplied returns once the replica has applied index.
func (p *Peer) waitApplied(ctx context.Context, index uint64) error {
	rep := p.fsm.replica()
	if rep == nil {
		return errNotLeader
	}
	return rep.WaitApplied(ctx, index)
}

// await waits for a raft future, or until ctx ends or the peer stops:
// hashicorp/raft leaves some futures unanswered when it shuts down, and a
// goroutine stuck on one would hold up the region's stop.
func (p *Peer) await(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stopCh:
		return raft.ErrRaftShutdown
	}
}
