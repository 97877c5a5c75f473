package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// errSplitInProgress: the region's leader is already driving a split.
var errSplitInProgress = region.ServerIsBusyError("a split of this region is in progress", 100)

// Split cuts regionID at key (right-derived: the new region takes
// [start, key), the parent keeps [key, end)). Only the region's leader
// can: it asks PD for the new region's and peers' ids, proposes the split
// through the region's log so every replica applies it, and reports the
// result to PD. It returns the new left region and the shrunk parent.
func (s *Store) Split(ctx context.Context, regionID uint64, key []byte) (left, right *flaredbv1.Region, err error) {
	p := s.Peer(regionID)
	if p == nil {
		return nil, nil, region.RegionNotFoundError(regionID)
	}
	if !p.splitting.CompareAndSwap(false, true) {
		return nil, nil, errSplitInProgress
	}
	defer p.splitting.Store(false)
	return s.split(ctx, p, key)
}

func (s *Store) split(ctx context.Context, p *Peer, key []byte) (left, right *flaredbv1.Region, err error) {
	meta := p.Region()
	if meta == nil {
		return nil, nil, region.RegionNotFoundError(p.regionID)
	}
	if !p.IsLeader() {
		return nil, nil, p.notLeader()
	}
	if s.pd == nil {
		return nil, nil, errors.New("split: no PD to allocate ids")
	}
	header := &flaredbv1.RaftCommandHeader{RegionId: meta.GetId(), Epoch: meta.GetEpoch()}
	// Reject a bad key before spending ids on it.
	probe := &flaredbv1.RaftCommand{Header: header, Command: &flaredbv1.RaftCommand_Split{Split: &flaredbv1.SplitCommand{
		SplitKey: key, NewRegionId: meta.GetId() + 1, NewPeerIds: placeholderIDs(len(meta.GetPeers())),
	}}}
	if rep := p.fsm.replica(); rep != nil {
		if err := rep.CheckCommand(probe); err != nil {
			return nil, nil, err
		}
	}
	ask, err := s.pd.AskSplit(ctx, &flaredbv1.AskSplitRequest{Region: meta})
	if err != nil {
		return nil, nil, fmt.Errorf("split region %d: ask PD: %w", meta.GetId(), err)
	}
	cmd := &flaredbv1.RaftCommand{Header: header, Command: &flaredbv1.RaftCommand_Split{Split: &flaredbv1.SplitCommand{
		SplitKey: key, NewRegionId: ask.GetNewRegionId(), NewPeerIds: ask.GetNewPeerIds(),
	}}}
	res, err := p.propose(ctx, cmd)
	if err != nil {
		return nil, nil, err
	}
	left, right = res.Split.Child, res.Split.Parent
	if _, err := s.pd.ReportSplit(ctx, &flaredbv1.ReportSplitRequest{Left: left, Right: right}); err != nil {
		// The next region heartbeats carry the same facts.
		s.log.Warn("report split to PD", "region", meta.GetId(), "err", err)
	}
	s.log.Info("region split", "parent", right.GetId(), "child", left.GetId(), "key", fmt.Sprintf("%q", key))
	return left, right, nil
}

func placeholderIDs(n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = ^uint64(0) - uint64(i)
	}
	return ids
}

// splitCheckLoop is each region leader's periodic size check.
func (s *Store) splitCheckLoop() {
	t := time.NewTicker(s.cfg.SplitCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range s.Peers() {
			if s.ctx.Err() != nil {
				return
			}
			s.checkSplit(p)
		}
	}
}

// checkSplit splits p at its middle key when it is over either threshold.
// A region whose applied index has not moved since its last check is
// skipped: nothing was written, so its size did not change.
func (s *Store) checkSplit(p *Peer) {
	rep := p.fsm.replica()
	if rep == nil || !p.IsLeader() {
		return
	}
	applied, _ := rep.Applied()
	if p.lastSplitCheck.Load() == applied {
		return
	}
	if !p.splitting.CompareAndSwap(false, true) {
		return
	}
	defer p.splitting.Store(false)
	ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	st, err := rep.SplitCheck(ctx)
	if err != nil {
		s.log.Warn("split check", "region", p.regionID, "err", err)
		return
	}
	if (st.Keys < s.cfg.SplitKeys && st.Bytes < s.cfg.SplitSize) || st.SplitKey == nil {
		p.lastSplitCheck.Store(applied)
		return
	}
	if _, _, err := s.split(ctx, p, st.SplitKey); err != nil {
		s.log.Info("automatic split failed; retrying at the next check", "region", p.regionID, "err", err)
		return
	}
	// Leave lastSplitCheck behind so the shrunk parent is checked again.
}
