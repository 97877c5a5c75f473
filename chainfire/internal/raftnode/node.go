package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/photoncloud/core/pkg/raftlease"
)

// Errors returned to callers that must react to leadership.
var (
	// ErrNotLeader: the command was not appended (safe to retry elsewhere).
	ErrNotLeader = errors.New("raftnode: not the leader")
	// ErrLeadershipLost: the command was appended but leadership was lost
	// before it committed; it may or may not be applied.
	ErrLeadershipLost = errors.New("raftnode: leadership lost while committing")
	ErrNoLeader       = errors.New("raftnode: no leader")
	ErrStopped        = errors.New("raftnode: stopped")
)

// Peer is a voting member known at bootstrap.
type Peer struct {
	ID      raft.ServerID
	Address raft.ServerAddress
}

// StateMachine is what the node applies committed entries to. A command
// with empty data is the node's own (a new leader's first entry): the state
// machine must apply it as a no-op that still advances AppliedIndex.
//
// The state machine may answer an entry before it is on disk (etcd's
// batched backend), because the log has it: on start, Raft re-delivers
// every entry after its newest snapshot (NoSnapshotRestoreOnStart) and the
// state machine skips those it holds durably. That is only safe if its
// Snapshot makes everything applied durable before returning, since Raft
// then records the snapshot at the last index it delivered and may drop
// the log behind it.
type StateMachine interface {
	raft.BatchingFSM
	// AppliedIndex is the last log index applied. Before the node starts
	// it is what the state machine holds on disk.
	AppliedIndex() uint64
	// WaitApplied blocks until AppliedIndex() >= index or ctx ends.
	WaitApplied(ctx context.Context, index uint64) error
}

// Config configures a Node.
type Config struct {
	ID            raft.ServerID
	DataDir       string
	PeerListen    string // host:port to bind for peer traffic
	PeerAdvertise string // host:port peers dial; defaults to the bound address
	// Bootstrap with InitialPeers when there is no Raft state on disk.
	Bootstrap    bool
	InitialPeers []Peer
	// ElectionTimeout bounds how long followers wait for the leader.
	ElectionTimeout time.Duration
	// CommitTimeout bounds how long followers may go without hearing the
	// latest commit index when no new entries are flowing (the library
	// waits between one and two of it); it is the floor of a follower's
	// linearizable read latency and of its watch event latency. Default
	// 5ms: at 10ms, watchers on followers saw events ~24ms later than
	// watchers on the leader in `make bench-chainfire` (docs/
	// bench-chainfire.md); 2ms made an idle 3-member cluster spend 7% more
	// of a core on empty AppendEntries, 5ms 1%.
	CommitTimeout time.Duration
	// DisableCommitNotify turns off telling followers about a commit as
	// soon as the leader has it (commitnotify.go); they then learn it
	// from raft's next append, up to two CommitTimeouts later.
	DisableCommitNotify bool
	// DisableLeaseRead makes every read index confirm leadership with a
	// heartbeat round; by default the leader answers from its lease while
	// it holds one (lease.go, which states what the lease assumes).
	DisableLeaseRead bool
	// SnapshotThreshold is the number of entries between snapshots.
	SnapshotThreshold uint64
	// TrailingLogs is the number of entries kept behind a snapshot.
	TrailingLogs uint64
	Logger       *slog.Logger
	// RaftLogOutput receives hashicorp/raft's own log lines.
	RaftLogOutput io.Writer
	// ObserveAppend, when set, is told how long each durable log append
	// (one fsynced batch of entries) took.
	ObserveAppend func(time.Duration)
	// WrapStream, when set, wraps the peer stream layer before the
	// transport uses it. It is a seam for tests that inject network faults
	// (partitions, dropped connections) into an in-process cluster; no flag
	// sets it. The wrapper must close the layer it wraps when closed.
	WrapStream func(raft.StreamLayer) raft.StreamLayer
}

// defaultCommitTimeout: see Config.CommitTimeout.
const defaultCommitTimeout = 5 * time.Millisecond

func (c Config) withDefaults() Config {
	if c.ElectionTimeout <= 0 {
		c.ElectionTimeout = time.Second
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = defaultCommitTimeout
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 10000
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RaftLogOutput == nil {
		c.RaftLogOutput = os.Stderr
	}
	return c
}

// Node is one member's Raft replica.
type Node struct {
	cfg    Config
	raft   *raft.Raft
	logs   raft.LogStore
	fsm    StateMachine
	store  *raftboltdb.BoltStore
	trans  *raft.NetworkTransport
	reads  *readIndexer
	notify *commitNotifier
	lease  *raftlease.Lease    // lease reads (lease.go)
	hold   *raftlease.VoteHold // refuses votes just after start (lease.go)
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// readyTerm is the newest term in which this replica, as leader, has
	// applied an entry of its own (see confirmLeadership).
	readyTerm atomic.Uint64
	readyCh   chan struct{} // closed and replaced when readiness changes
	readyMu   sync.Mutex
}

// Start opens the durable Raft state in cfg.DataDir and starts the replica.
func Start(cfg Config, fsm StateMachine) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raftnode: data dir: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.DataDir, "raft.db"),
		// The freelist is rebuilt on open instead of being rewritten on
		// every append: log truncation leaves many free pages, and syncing
		// them each commit is what makes bbolt logs slow down over time.
		BoltOptions: &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType, Timeout: 10 * time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("raftnode: open log store: %w", err)
	}
	n := &Node{cfg: cfg, fsm: fsm, store: store, log: cfg.Logger, readyCh: make(chan struct{})}
	if err := n.start(); err != nil {
		store.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) start() error {
	cfg := n.cfg
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: cfg.RaftLogOutput, JSONFormat: true})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hlog)
	if err != nil {
		return fmt.Errorf("raftnode: snapshot store: %w", err)
	}
	var stream raft.StreamLayer
	stream, err = newStreamLayer(cfg.PeerListen, cfg.PeerAdvertise)
	if err != nil {
		return err
	}
	if cfg.WrapStream != nil {
		stream = cfg.WrapStream(stream)
	}
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 4, Timeout: 10 * time.Second, Logger: hlog,
	})
	var durable raft.LogStore = n.store
	if cfg.ObserveAppend != nil {
		durable = timedLogStore{LogStore: n.store, observe: cfg.ObserveAppend}
	}
	logs, err := raft.NewLogCache(1024, durable)
	if err != nil {
		n.trans.Close()
		return fmt.Errorf("raftnode: log cache: %w", err)
	}
	n.logs = logs
	rc := n.raftConfig(hlog)
	if cfg.Bootstrap {
		if err := n.bootstrapIfNew(rc, logs, snaps); err != nil {
			n.trans.Close()
			return err
		}
	}
	behind, err := n.behindSnapshot(snaps)
	if err != nil {
		n.trans.Close()
		return err
	}
	if behind {
		rc.NoSnapshotRestoreOnStart = false
	}
	n.notify = newCommitNotifier(n)
	var fsm raft.FSM = notifyingFSM{n.fsm, n.notify}
	if cfg.DisableCommitNotify {
		fsm = n.fsm
	}
	r, err := raft.NewRaft(rc, fsm, logs, n.store, snaps, n.wrapTransport(rc))
	if err != nil {
		n.trans.Close()
		return fmt.Errorf("raftnode: start raft: %w", err)
	}
	n.raft = r
	n.hold.Start(r.CurrentTerm)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.notify.start(ctx, r)
	n.reads = newReadIndexer(n)
	n.wg.Add(2)
	go func() { defer n.wg.Done(); n.watchLeadership(ctx) }()
	go func() { defer n.wg.Done(); n.reads.run(ctx) }()
	return nil
}

func (n *Node) raftConfig(hlog hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = n.cfg.ID
	rc.Logger = hlog
	// Followers forget the leader one HeartbeatTimeout after its last
	// append: lease reads rely on it being ElectionTimeout (lease.go).
	rc.HeartbeatTimeout = n.cfg.ElectionTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	// The leader steps down after a whole election timeout without hearing
	// from a quorum, not half of one: followers that lost it wait at least
	// that long before electing another, so stepping down sooner only
	// turns a busy moment (a loaded machine, a large append in flight)
	// into "leader changed" errors for writes in flight. Reads do not rely
	// on it (lease.go).
	rc.LeaderLeaseTimeout = n.cfg.ElectionTimeout
	rc.CommitTimeout = n.cfg.CommitTimeout
	rc.MaxAppendEntries = 512
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.SnapshotInterval = 30 * time.Second
	// The state machine persists itself with its applied index; restoring a
	// snapshot on start would only throw that work away.
	rc.NoSnapshotRestoreOnStart = true
	return rc
}

// behindSnapshot reports whether the state machine may lack entries that
// the newest snapshot covers, in which case it must be restored from that
// snapshot on start.
//
// Raft starts applying after its newest snapshot, trusting the state
// machine to hold everything up to it (NoSnapshotRestoreOnStart). That holds
// for snapshots this replica took of its own state machine, but a snapshot
// received from the leader is saved before it is restored into the state
// machine: a crash in between, or a restore that failed, leaves a saved
// snapshot the store never saw, and skipping it would lose those entries
// for good. The state machine is behind unless every entry between its
// applied index and the snapshot is one it never sees; when the log no
// longer has them, restoring is the safe answer.
func (n *Node) behindSnapshot(snaps raft.SnapshotStore) (bool, error) {
	metas, err := snaps.List()
	if err != nil {
		return false, fmt.Errorf("raftnode: list snapshots: %w", err)
	}
	if len(metas) == 0 {
		return false, nil
	}
	newest, applied := metas[0].Index, n.fsm.AppliedIndex()
	if applied >= newest || n.onlyInternalEntries(applied+1, newest) {
		return false, nil
	}
	n.log.Warn("state machine is behind the newest snapshot; restoring it",
		"applied", applied, "snapshot", metas[0].ID, "snapshot_index", newest)
	return true, nil
}

func (n *Node) bootstrapIfNew(rc *raft.Config, logs raft.LogStore, snaps raft.SnapshotStore) error {
	existing, err := raft.HasExistingState(logs, n.store, snaps)
	if err != nil {
		return fmt.Errorf("raftnode: inspect state: %w", err)
	}
	if existing {
		return nil
	}
	var conf raft.Configuration
	for _, p := range n.cfg.InitialPeers {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: p.ID, Address: p.Address})
	}
	if err := raft.BootstrapCluster(rc, logs, n.store, snaps, n.trans, conf); err != nil {
		return fmt.Errorf("raftnode: bootstrap: %w", err)
	}
	n.log.Info("bootstrapped new cluster", "members", len(conf.Servers))
	return nil
}

// Close stops the replica and releases its files.
func (n *Node) Close() error {
	n.cancel()
	err := n.raft.Shutdown().Error()
	n.wg.Wait()
	n.hold.Stop()
	if cerr := n.trans.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if cerr := n.store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// Raft exposes the underlying library object for membership and stats.
func (n *Node) Raft() *raft.Raft { return n.raft }

// Leader returns the current leader's id, or "" when there is none known.
func (n *Node) Leader() raft.ServerID {
	_, id := n.raft.LeaderWithID()
	return id
}

// IsLeader reports whether this replica is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// CommitIndex is the latest index known committed by this replica.
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }

// LastIndex is the last index in this replica's log.
func (n *Node) LastIndex() uint64 { return n.raft.LastIndex() }

// FirstIndex is the oldest entry still in this replica's log; everything
// before it exists only in snapshots (0 when the log is empty). A follower
// that needs an entry older than the leader's FirstIndex is sent a snapshot.
func (n *Node) FirstIndex() (uint64, error) { return n.logs.FirstIndex() }

// Propose appends data to the log and waits until it is applied, returning
// the state machine's result. Only the leader can propose.
func (n *Node) Propose(ctx context.Context, data []byte) (any, error) {
	var f raft.ApplyFuture
	err := n.await(ctx, func(timeout time.Duration) raft.Future {
		f = n.raft.Apply(data, timeout)
		return f
	})
	if err != nil {
		return nil, err
	}
	return f.Response(), nil
}

// awaitFuture waits for f, or until ctx ends: hashicorp/raft leaves an
// Apply future that is still queued when it shuts down unanswered, and
// waiting for it would hold up Close.
func awaitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func mapRaftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return ErrLeadershipLost
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrStopped
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return context.DeadlineExceeded
	}
	return err
}

// timedLogStore reports how long appends to the durable log take: the
// equivalent of etcd's WAL fsync latency.
type timedLogStore struct {
	raft.LogStore
	observe func(time.Duration)
}

func (t timedLogStore) StoreLogs(logs []*raft.Log) error {
	start := time.Now()
	err := t.LogStore.StoreLogs(logs)
	t.observe(time.Since(start))
	return err
}

func (t timedLogStore) StoreLog(l *raft.Log) error { return t.StoreLogs([]*raft.Log{l}) }
