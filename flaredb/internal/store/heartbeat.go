package store

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Run starts the store's background loops (heartbeats, split checks,
// peer GC) and returns at once; Close stops them.
func (s *Store) Run() {
	s.wg.Add(5)
	go func() { defer s.wg.Done(); s.quiesceLoop() }()
	go func() { defer s.wg.Done(); s.peerGCLoop() }()
	go func() { defer s.wg.Done(); s.storeHeartbeatLoop() }()
	go func() { defer s.wg.Done(); s.regionHeartbeatLoop() }()
	go func() { defer s.wg.Done(); s.splitCheckLoop() }()
}

// StoreMeta is this store as PD knows it.
func (s *Store) StoreMeta() *flaredbv1.Store {
	return &flaredbv1.Store{Id: s.cfg.StoreID, Address: s.cfg.ClientAddr, RaftAddress: s.mux.Addr(),
		State: flaredbv1.StoreState_STORE_STATE_UP}
}

func (s *Store) every(d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn(s.ctx)
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Store) storeHeartbeatLoop() {
	if s.pd == nil {
		return
	}
	// PD acts on a follower a leader cannot reach only while the follower's
	// store is up, so the store tells how long it has been.
	started := time.Now()
	s.every(s.cfg.HeartbeatInterval, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.HeartbeatInterval)
		defer cancel()
		stats := s.stats()
		stats.UptimeMs = uint64(time.Since(started).Milliseconds())
		if _, err := s.pd.StoreHeartbeat(ctx, &flaredbv1.StoreHeartbeatRequest{Store: s.StoreMeta(), Stats: stats}); err != nil && ctx.Err() == nil {
			s.log.Warn("store heartbeat", "err", err)
		}
	})
}

func (s *Store) stats() *flaredbv1.StoreStats {
	st := &flaredbv1.StoreStats{StoreId: s.cfg.StoreID, RegionCount: uint32(len(s.Peers()))}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(s.cfg.DataDir, &fs); err == nil {
		st.Capacity = fs.Blocks * uint64(fs.Bsize)
		st.Available = fs.Bavail * uint64(fs.Bsize)
	}
	return st
}

func (s *Store) regionHeartbeatLoop() {
	if s.pd == nil {
		return
	}
	s.every(s.cfg.RegionHeartbeatInterval, func(ctx context.Context) {
		for _, p := range s.Peers() {
			if ctx.Err() != nil {
				return
			}
			p.watchDownPeers()
			if p.IsLeader() && p.heartbeatDue() {
				s.regionHeartbeat(ctx, p)
			}
		}
	})
}

// regionHeartbeat reports one led region and carries out the membership
// change PD answers with, if any.
func (s *Store) regionHeartbeat(ctx context.Context, p *Peer) {
	rep := p.fsm.replica()
	if rep == nil {
		return
	}
	meta := rep.Region()
	size, _ := rep.ApproximateSize()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RegionHeartbeatInterval)
	defer cancel()
	resp, err := s.pd.RegionHeartbeat(ctx, &flaredbv1.RegionHeartbeatRequest{
		Region: meta, Leader: s.ownPeer(meta), ApproximateSize: size, DownPeers: p.DownPeers(),
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("region heartbeat", "region", meta.GetId(), "err", err)
		}
		p.hb.reported = "" // resend next time
		return
	}
	p.hb.pending = resp.GetChangePeer() != nil
	if op := resp.GetChangePeer(); op != nil && p.changing.CompareAndSwap(false, true) {
		// A membership change waits on another store and on snapshots: run
		// it aside so the other regions' heartbeats keep their pace.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer p.changing.Store(false)
			ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
			defer cancel()
			if err := s.ChangePeer(ctx, p.regionID, op); err != nil && ctx.Err() == nil {
				s.log.Info("change peer (PD will ask again)", "region", meta.GetId(), "err", err)
			}
		}()
	}
}

// Stop-gap guard: a region error for an admin operation that cannot run.
func adminErr(regionID uint64, format string, args ...any) error {
	return fmt.Errorf("region %d: %w: %s", regionID, region.ErrInvalidArgument, fmt.Sprintf(format, args...))
}
