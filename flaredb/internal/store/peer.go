package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/flaredb/internal/raftmux"
	"github.com/photoncloud/core/flaredb/internal/region"
	"github.com/photoncloud/core/pkg/raftlease"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Peer is this store's replica of one region: its Raft group (log and
// stable store in the region's own bolt file, snapshots next to it,
// transport on the store's shared raft port) and its state machine.
type Peer struct {
	store    *Store
	regionID uint64
	peerID   uint64
	dir      string

	fsm    *fsm
	raft   *raft.Raft
	bolt   *raftboltdb.BoltStore
	logs   *raft.LogCache
	layer  *raftmux.Layer
	trans  *raft.NetworkTransport
	cancel context.CancelFunc
	wg     sync.WaitGroup

	reads     chan chan readResult
	lease     *raftlease.Lease
	hold      *raftlease.VoteHold // refuses votes just after start
	readyTerm atomic.Uint64
	readyMu   sync.Mutex
	readyCh   chan struct{}

	// started is when this replica started, the origin of "no leader
	// for PeerGCAfter" when it never heard one (peergc.go).
	started time.Time

	// inflight counts proposals waiting for raft; above maxInflight the
	// region sheds load with ServerIsBusy instead of queueing without end.
	inflight atomic.Int64
	// splitting is set while this leader drives a split, so checks do not
	// pile up.
	splitting atomic.Bool
	// changing is set while this leader carries out a membership change.
	changing atomic.Bool
	// lastSplitCheck is the applied index at the last split check.
	lastSplitCheck atomic.Uint64
	stopped        atomic.Bool
	stopCh         chan struct{} // closed by stop
	quiesce        quiesceState  // owned by the store's quiesce loop
	hb             hbState       // owned by the store's region heartbeat loop
	down           downTracker   // unreachable followers (see downpeer.go)
	// replayed counts entries raft delivered again that the replica had
	// already applied (skipped, never applied twice).
	replayed atomic.Uint64
}

// Replayed is the number of re-delivered entries this replica skipped
// since it started.
func (p *Peer) Replayed() uint64 { return p.replayed.Load() }

// startPeer opens (or creates) the Raft group of regionID with this
// store's peer peerID. rep is nil for a peer added empty, which waits for
// a snapshot. bootstrap, when not nil, is the initial configuration written
// if the group has no Raft state yet (a region born by bootstrap or split).
func (s *Store) startPeer(rep *region.Replica, regionID, peerID uint64, bootstrap []raft.Server) (*Peer, error) {
	dir := filepath.Join(s.cfg.DataDir, "regions", strconv.FormatUint(regionID, 10))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("region %d: %w", regionID, err)
	}
	p := &Peer{store: s, regionID: regionID, peerID: peerID, dir: dir, started: time.Now(),
		reads: make(chan chan readResult, 1024), readyCh: make(chan struct{}), stopCh: make(chan struct{}),
		lease: raftlease.New(!s.cfg.DisableLeaseRead, s.cfg.ElectionTimeout)}
	p.fsm = &fsm{peer: p, rep: rep}
	if err := p.open(bootstrap); err != nil {
		p.closeResources()
		return nil, fmt.Errorf("region %d: %w", regionID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.watchLeadership(ctx) }()
	go func() { defer p.wg.Done(); p.readLoop(ctx) }()
	return p, nil
}

func (p *Peer) open(bootstrap []raft.Server) error {
	s := p.store
	logStore, stable, err := p.openLog()
	if err != nil {
		return err
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: fmt.Sprintf("raft-region-%d", p.regionID), Level: hclog.Error, Output: newRaftLogLimiter(s.cfg.RaftLogOutput)})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(p.dir, 2, hlog)
	if err != nil {
		return fmt.Errorf("snapshot store: %w", err)
	}
	if p.layer, err = s.mux.Layer(p.regionID); err != nil {
		return err
	}
	p.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: p.layer, MaxPool: 2, Timeout: 10 * time.Second, Logger: hlog,
	})
	if p.logs, err = raft.NewLogCache(256, logStore); err != nil {
		return err
	}
	rc := s.raftConfig(p.peerID, hlog)
	existing, err := raft.HasExistingState(p.logs, stable, snaps)
	if err != nil {
		return fmt.Errorf("inspect raft state: %w", err)
	}
	if !existing && bootstrap != nil {
		if err := raft.BootstrapCluster(rc, p.logs, stable, snaps, p.trans, raft.Configuration{Servers: bootstrap}); err != nil {
			return fmt.Errorf("bootstrap raft group: %w", err)
		}
	}
	// The engine holds the state machine with its applied index; restore
	// from a snapshot on start only when it is behind the newest one (a
	// snapshot received from a leader and saved, but not yet installed,
	// when the store stopped).
	if metas, err := snaps.List(); err == nil && len(metas) > 0 {
		applied := uint64(0)
		if rep := p.fsm.replica(); rep != nil {
			applied, _ = rep.Applied()
		}
		if applied < metas[0].Index && !p.onlyInternal(applied+1, metas[0].Index) {
			rc.NoSnapshotRestoreOnStart = false
		}
	}
	// Refuse votes for one follower election timeout, and feed the lease
	// (lease.go, package raftlease).
	p.hold = raftlease.NewVoteHold(p.trans.Consumer(), s.cfg.ElectionTimeout, raftlease.Header(rc, p.trans))
	trans := raftlease.NewTransport(countingTransport{p.trans, &s.heartbeats}, p.lease, p.hold, func() uint64 { return p.raft.CurrentTerm() })
	r, err := raft.NewRaft(rc, p.fsm, p.logs, stable, snaps, trans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	p.raft = r
	p.hold.Start(r.CurrentTerm)
	return nil
}

// openLog returns the region's log and stable store: the store's shared
// raftlog, or the region's own raft-boltdb file when one exists (a data
// directory from before the shared log; it keeps working).
func (p *Peer) openLog() (raft.LogStore, raft.StableStore, error) {
	legacy := filepath.Join(p.dir, "raft.db")
	if _, err := os.Stat(legacy); err != nil {
		l, err := p.store.rlog.Region(p.regionID)
		if err != nil {
			return nil, nil, err
		}
		return l, l, nil
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path: legacy,
		BoltOptions: &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType,
			Timeout: 10 * time.Second},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open raft log: %w", err)
	}
	p.bolt = bolt
	return bolt, bolt, nil
}

// onlyInternal reports whether no entry in [from, to] reaches the state
// machine (only leader no-ops and barriers).
func (p *Peer) onlyInternal(from, to uint64) bool {
	var l raft.Log
	for i := from; i <= to; i++ {
		if err := p.logs.GetLog(i, &l); err != nil {
			return false
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return false
		}
	}
	return true
}

func (s *Store) raftConfig(peerID uint64, hlog hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(strconv.FormatUint(peerID, 10))
	rc.Logger = hlog
	rc.HeartbeatTimeout = s.cfg.ElectionTimeout
	rc.ElectionTimeout = s.cfg.ElectionTimeout
	// The lease is the whole election timeout so a quiescent leader's
	// slower heartbeats stay inside it (see quiesce.go); reads do not rely
	// on it (lease reads keep their own lease, see lease.go).
	rc.LeaderLeaseTimeout = s.cfg.ElectionTimeout
	// Idle regions cost little: followers learn new commit indexes with
	// the next append, or every CommitTimeout (see quiesce.go).
	rc.CommitTimeout = max(s.cfg.ElectionTimeout/2, 50*time.Millisecond)
	rc.MaxAppendEntries = 256
	rc.BatchApplyCh = true
	// raft reports its timings to go-metrics, which the store does not
	// export; skip the duplicate legacy series at least (the calls cost
	// a label filter and allocations each, several per proposal).
	rc.NoLegacyTelemetry = true
	rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	rc.TrailingLogs = s.cfg.TrailingLogs
	rc.SnapshotInterval = 60 * time.Second
	rc.NoSnapshotRestoreOnStart = true
	return rc
}

// stop shuts the group down. It leaves every file in place.
func (p *Peer) stop() error {
	if p.stopped.Swap(true) {
		return nil
	}
	close(p.stopCh)
	if p.cancel != nil {
		p.cancel()
	}
	var err error
	if p.raft != nil {
		err = p.raft.Shutdown().Error()
	}
	p.wg.Wait()
	if cerr := p.closeResources(); err == nil {
		err = cerr
	}
	return err
}

func (p *Peer) closeResources() error {
	if p.hold != nil {
		p.hold.Stop()
	}
	var err error
	if p.trans != nil {
		err = p.trans.Close()
	} else if p.layer != nil {
		err = p.layer.Close()
	}
	if p.bolt != nil {
		if cerr := p.bolt.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Region is the replica's current metadata (nil before an added peer's
// first snapshot).
func (p *Peer) Region() *flaredbv1.Region {
	if rep := p.fsm.replica(); rep != nil {
		return rep.Region()
	}
	return nil
}

// IsLeader reports whether this replica leads its region.
func (p *Peer) IsLeader() bool { return p.raft.State() == raft.Leader }

// leaderHint names the region's leader as a Peer, if known.
func (p *Peer) leaderHint() *flaredbv1.Peer {
	_, id := p.raft.LeaderWithID()
	if id == "" {
		return nil
	}
	pid, err := strconv.ParseUint(string(id), 10, 64)
	if err != nil {
		return nil
	}
	for _, peer := range p.Region().GetPeers() {
		if peer.GetId() == pid {
			return proto.CloneOf(peer)
		}
	}
	return nil
}

func (p *Peer) notLeader() error { return region.NotLeaderError(p.regionID, p.leaderHint()) }

// maxProposalWait bounds how long a proposal without a deadline waits
// for its entry to apply.
const maxProposalWait = 30 * time.Second

// maxInflight bounds proposals queued on one region.
const maxInflight = 8192

// propose runs cmd through the region's log and returns its apply result.
// Rejections known before proposing (stale epoch, key outside the region,
// bad input) never reach the log.
func (p *Peer) propose(ctx context.Context, cmd *flaredbv1.RaftCommand) (region.Result, error) {
	rep := p.fsm.replica()
	if rep == nil {
		return region.Result{}, region.RegionNotFoundError(p.regionID)
	}
	if err := rep.CheckCommand(cmd); err != nil {
		return region.Result{}, err
	}
	if p.raft.State() != raft.Leader {
		return region.Result{}, p.notLeader()
	}
	if p.inflight.Add(1) > maxInflight {
		p.inflight.Add(-1)
		return region.Result{}, region.ServerIsBusyError("too many pending proposals", 20)
	}
	defer p.inflight.Add(-1)
	data, err := proto.Marshal(cmd)
	if err != nil {
		return region.Result{}, fmt.Errorf("encode command: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, maxProposalWait)
		defer cancel()
	}
	dl, _ := ctx.Deadline()
	f := p.raft.Apply(data, time.Until(dl))
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return region.Result{}, p.mapRaftError(err)
		}
	case <-ctx.Done():
		return region.Result{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	case <-p.stopCh:
		// A proposal queued as raft shut down is never answered by raft.
		return region.Result{}, fmt.Errorf("%w: region %d stopped", ErrOutcomeUnknown, p.regionID)
	}
	res, ok := f.Response().(region.Result)
	if !ok {
		return region.Result{}, fmt.Errorf("region %d: unexpected apply response %T", p.regionID, f.Response())
	}
	if res.Err != nil {
		return res, res.Err
	}
	return res, nil
}

// ErrOutcomeUnknown: the command was appended but whether it committed is
// not known (leadership lost, or the caller gave up waiting). Clients must
// not blindly retry a non-idempotent command after it.
var ErrOutcomeUnknown = errors.New("command outcome unknown")

func (p *Peer) mapRaftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return p.notLeader()
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return region.ServerIsBusyError("raft apply queue full", 50)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %v", ErrOutcomeUnknown, err)
	}
	return fmt.Errorf("region %d: %w", p.regionID, err)
}

// afterApply reacts to applied admin commands; it runs on the FSM
// goroutine after the entry's batch is durable.
func (p *Peer) afterApply(res region.Result) {
	switch {
	case res.Skipped:
		p.replayed.Add(1)
	case res.Split != nil:
		p.store.onSplitApplied(p, res.Split)
	case res.Region != nil:
		p.store.onConfChanged(p, res.Region)
	}
}
