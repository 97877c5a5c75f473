package member

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/photoncloud/core/chainfire/internal/apply"
	"github.com/photoncloud/core/chainfire/internal/coalesce"
	"github.com/photoncloud/core/chainfire/internal/lease"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	"github.com/photoncloud/core/chainfire/internal/raftnode"
	"github.com/photoncloud/core/chainfire/internal/watch"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// Config describes a member, with etcd's settings.
type Config struct {
	Name                string
	DataDir             string
	ClientURLs          []string // advertised
	PeerURLs            []string // advertised
	PeerListen          string   // host:port to bind for Raft
	InitialCluster      []InitialMember
	InitialClusterState string // "new" or "existing"
	InitialClusterToken string
	ElectionTimeout     time.Duration
	SnapshotCount       uint64
	MaxRequestBytes     int
	QuotaBackendBytes   int64
	// RequestTimeout bounds a proposal or read barrier without a deadline.
	RequestTimeout time.Duration
	Logger         *slog.Logger
	// Registerer receives the member's Prometheus metrics; nil skips them.
	Registerer prometheus.Registerer
	// TrailingLogs is how many applied entries Raft keeps behind a
	// snapshot for slow followers (0: the raftnode default). A follower
	// further behind is sent the snapshot instead.
	TrailingLogs uint64
	// CorruptCheckInterval is how often the leader compares every member's
	// HashKV with its own (0 disables the check).
	CorruptCheckInterval time.Duration
	// LeaseCheckpointInterval is how often the leader replicates the
	// remaining TTL of leases longer than it (0: 5 minutes).
	LeaseCheckpointInterval time.Duration
	// WrapPeerStream, when set, wraps the Raft peer stream layer. It is a
	// seam for tests that inject network faults; no flag sets it.
	WrapPeerStream func(raft.StreamLayer) raft.StreamLayer
	// BackendBatchInterval and BackendBatchLimit bound how long and how
	// many changes applied entries wait before the store commits them to
	// disk (mvcc.Options.BatchInterval, BatchLimit; 0: 100ms and 10000).
	BackendBatchInterval time.Duration
	BackendBatchLimit    int
	// DisableLeaseRead makes the leader confirm every read index with a
	// heartbeat round instead of answering from its lease
	// (raftnode.Config.DisableLeaseRead).
	DisableLeaseRead bool
}

// Member is a running Chainfire member.
type Member struct {
	cfg       Config
	id        uint64
	clusterID uint64
	store     *mvcc.Store
	applier   *apply.Applier
	watches   *watch.Hub
	node      *raftnode.Node
	peers     *peerClients
	forwarder *forwarder
	renewer   *renewer
	reads     *coalesce.Group[uint64] // a follower's shared read-index requests
	metrics   *metrics
	maint     *maintenance
	removed   chan struct{}
	log       *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start opens (or creates) the member's data and joins its cluster.
func Start(cfg Config) (*Member, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5*time.Second + 2*cfg.electionTimeout()
	}
	m := &Member{cfg: cfg, log: cfg.Logger, peers: newPeerClients()}
	m.forwarder = newForwarder(m)
	m.renewer = newRenewer(m)
	m.metrics = newMetrics()
	m.maint = newMaintenance()
	m.removed = make(chan struct{})
	m.reads = coalesce.New(m.askLeaderReadIndex)
	if err := m.computeIDs(); err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.DataDir, "member")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("member: data dir: %w", err)
	}
	store, err := mvcc.Open(filepath.Join(dir, "kv.db"), mvcc.Options{
		Logger: cfg.Logger, BatchInterval: cfg.BackendBatchInterval, BatchLimit: cfg.BackendBatchLimit,
	})
	if err != nil {
		return nil, fmt.Errorf("member: open store: %w", err)
	}
	m.store = store
	leaseOpts := lease.Options{MinTTL: cfg.minLeaseTTL()}
	if m.applier, err = apply.New(store, cfg.Logger, apply.WithLeaseOptions(leaseOpts)); err != nil {
		store.Close()
		return nil, err
	}
	m.applier.ObserveCommit(m.metrics.observeCommit)
	// The hub observes from the first applied entry, before Raft starts.
	if m.watches, err = watch.NewHub(store, watch.Options{Logger: cfg.Logger, Registerer: cfg.Registerer}); err != nil {
		store.Close()
		return nil, fmt.Errorf("member: watch hub: %w", err)
	}
	m.applier.Observe(m.watches)
	if err := m.startRaft(filepath.Join(dir, "raft")); err != nil {
		store.Close()
		return nil, err
	}
	if cfg.Registerer != nil {
		if err := errors.Join(m.registerMetrics(cfg.Registerer), m.maint.register(cfg.Registerer)); err != nil {
			_ = m.node.Close()
			store.Close()
			return nil, fmt.Errorf("member: metrics: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.forwarder.run(ctx, &m.wg)
	m.renewer.run(ctx, &m.wg)
	m.wg.Add(6)
	go func() { defer m.wg.Done(); m.runLessor(ctx) }()
	go func() { defer m.wg.Done(); m.checkCorruptionLoop(ctx) }()
	go func() { defer m.wg.Done(); m.watchRemoval(ctx) }()
	go func() { defer m.wg.Done(); m.reads.Run(ctx) }()
	go func() { defer m.wg.Done(); m.countLeaderChanges(ctx) }()
	go func() { defer m.wg.Done(); m.publishAttributes(ctx) }()
	return m, nil
}

func (c Config) electionTimeout() time.Duration {
	if c.ElectionTimeout <= 0 {
		return time.Second
	}
	return c.ElectionTimeout
}

func (m *Member) computeIDs() error {
	var ids []uint64
	found := false
	for _, im := range m.cfg.InitialCluster {
		id := memberID(im.PeerURLs, m.cfg.InitialClusterToken)
		ids = append(ids, id)
		if im.Name == m.cfg.Name {
			if !slices.Equal(sortedCopy(im.PeerURLs), sortedCopy(m.cfg.PeerURLs)) {
				return fmt.Errorf("member: --initial-cluster gives %s peer URLs %v, but --initial-advertise-peer-urls is %v",
					im.Name, im.PeerURLs, m.cfg.PeerURLs)
			}
			m.id, found = id, true
		}
	}
	if !found {
		return fmt.Errorf("member: %q is not in --initial-cluster", m.cfg.Name)
	}
	m.clusterID = clusterID(ids)
	return nil
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func (m *Member) startRaft(dir string) error {
	var peers []raftnode.Peer
	for _, im := range m.cfg.InitialCluster {
		addr, err := HostPort(im.PeerURLs[0])
		if err != nil {
			return err
		}
		peers = append(peers, raftnode.Peer{ID: serverID(memberID(im.PeerURLs, m.cfg.InitialClusterToken)), Address: raftAddress(addr)})
	}
	advertise, err := HostPort(m.cfg.PeerURLs[0])
	if err != nil {
		return fmt.Errorf("member: advertised peer URL: %w", err)
	}
	node, err := raftnode.Start(raftnode.Config{
		ID:                serverID(m.id),
		DataDir:           dir,
		PeerListen:        m.cfg.PeerListen,
		PeerAdvertise:     advertise,
		Bootstrap:         m.cfg.InitialClusterState != "existing",
		InitialPeers:      peers,
		ElectionTimeout:   m.cfg.electionTimeout(),
		DisableLeaseRead:  m.cfg.DisableLeaseRead,
		SnapshotThreshold: m.cfg.SnapshotCount,
		TrailingLogs:      m.cfg.TrailingLogs,
		WrapStream:        m.cfg.WrapPeerStream,
		ObserveAppend:     m.metrics.observeAppend,
		Logger:            m.log,
	}, m.applier)
	if err != nil {
		return err
	}
	m.node = node
	return nil
}

// Close stops the member.
func (m *Member) Close() error {
	m.cancel()
	m.wg.Wait()
	err := m.node.Close()
	m.watches.Close()
	m.peers.close()
	return errors.Join(err, m.store.Close())
}

// ID is this member's id.
func (m *Member) ID() uint64 { return m.id }

// ClusterID is the cluster's id.
func (m *Member) ClusterID() uint64 {
	// A member that joined an existing cluster cannot derive the id from
	// its --initial-cluster; it adopts the one recorded through Raft.
	if id := m.applier.Members().ClusterID(); id != 0 {
		return id
	}
	return m.clusterID
}

// Store is the member's MVCC store.
func (m *Member) Store() *mvcc.Store { return m.store }

// Watches is the member's watch hub, fed by its own applied state.
func (m *Member) Watches() *watch.Hub { return m.watches }

// Node is the member's Raft replica.
func (m *Member) Node() *raftnode.Node { return m.node }

// Header returns a response header at store revision rev.
func (m *Member) Header(rev int64) *pb.ResponseHeader {
	return &pb.ResponseHeader{
		ClusterId: m.ClusterID(),
		MemberId:  m.id,
		Revision:  rev,
		RaftTerm:  m.store.AppliedTerm(),
	}
}

// StampHeader fills the member-specific fields of h, keeping its revision.
func (m *Member) StampHeader(h *pb.ResponseHeader) {
	if h == nil {
		return
	}
	h.ClusterId, h.MemberId, h.RaftTerm = m.ClusterID(), m.id, m.store.AppliedTerm()
}

// HasLeader reports whether this member knows a leader.
func (m *Member) HasLeader() bool { return m.node.Leader() != "" }

// Ready reports nil once the member has a leader and has applied what it
// knows to be committed.
func (m *Member) Ready(ctx context.Context) error {
	if !m.HasLeader() {
		return errors.New("no leader")
	}
	commit := m.node.CommitIndex()
	if m.node.Raft().AppliedIndex() < commit {
		return fmt.Errorf("catching up: applied %d of %d", m.node.Raft().AppliedIndex(), commit)
	}
	// Like etcd, a member serves only once the cluster knows its name and
	// client URLs, so a member list taken after it is ready names it.
	if a, ok := m.applier.Members().Get(m.id); !ok || a.GetName() != m.cfg.Name {
		return errors.New("publishing member attributes")
	}
	return nil
}

func (m *Member) publishAttributes(ctx context.Context) {
	attrs := &chainfirev1.MemberAttributes{Id: m.id, Name: m.cfg.Name, ClientUrls: m.cfg.ClientURLs, PeerUrls: m.cfg.PeerURLs}
	cmd := &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_PublishAttributes{PublishAttributes: attrs}}
	for ctx.Err() == nil {
		if cur, ok := m.applier.Members().Get(m.id); ok && slices.Equal(cur.GetClientUrls(), attrs.GetClientUrls()) &&
			cur.GetName() == attrs.GetName() && slices.Equal(cur.GetPeerUrls(), attrs.GetPeerUrls()) {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
		_, err := m.Propose(pctx, cmd)
		cancel()
		if err == nil {
			m.log.Info("published member attributes", "id", fmt.Sprintf("%x", m.id), "client_urls", m.cfg.ClientURLs)
			return
		}
		m.log.Debug("publish member attributes", "error", err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// LeaderID is the leader's member id, 0 when there is none.
func (m *Member) LeaderID() uint64 {
	id, _ := parseServerID(m.node.Leader())
	return id
}

// Members returns the attributes every member has published through
// Raft, ordered by id.
func (m *Member) Members() []*chainfirev1.MemberAttributes { return m.applier.Members().List() }

// AppliedIndex is the last Raft index applied to the store.
func (m *Member) AppliedIndex() uint64 { return m.applier.AppliedIndex() }
