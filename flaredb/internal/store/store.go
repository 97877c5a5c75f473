package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/photoncloud/core/flaredb/internal/engine"
	"github.com/photoncloud/core/flaredb/internal/raftlog"
	"github.com/photoncloud/core/flaredb/internal/raftmux"
	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// TiKV's classic split thresholds (before v8.4 raised them).
const (
	DefaultSplitSize = 96 << 20
	DefaultSplitKeys = 960000
)

// Config configures a store.
type Config struct {
	StoreID uint64
	DataDir string
	// RaftAddr is bound for every region's Raft traffic; RaftAdvertise is
	// what peers dial (RaftAddr's bound address when empty).
	RaftAddr      string
	RaftAdvertise string
	// ClientAddr is the client RPC address reported to PD.
	ClientAddr string
	// SplitSize and SplitKeys trigger a split of a region that reaches
	// either (bytes of keys+values, number of keys).
	SplitSize uint64
	SplitKeys uint64
	// SplitCheckInterval is how often region leaders check their size.
	SplitCheckInterval time.Duration
	// HeartbeatInterval is the store heartbeat period; region heartbeats
	// go out every RegionHeartbeatInterval.
	HeartbeatInterval       time.Duration
	RegionHeartbeatInterval time.Duration
	ElectionTimeout         time.Duration
	// QuiesceAfter is how long a region leader must apply nothing before
	// it slows its heartbeats (default 10 s; see quiesce.go).
	QuiesceAfter time.Duration
	// DisableLeaseRead makes every linearizable read confirm leadership
	// with a heartbeat round (ReadIndex) instead of using the leader's
	// lease when it holds one (see lease.go).
	DisableLeaseRead  bool
	SnapshotThreshold uint64
	TrailingLogs      uint64
	Logger            *slog.Logger
	RaftLogOutput     io.Writer
	// Engine overrides engine options (tests).
	Engine engine.Options
	// PeerGCAfter is how long a replica may hear no leader before the
	// store asks PD whether its peer was removed (default 1 minute; see
	// peergc.go).
	PeerGCAfter time.Duration
	// CreatePeer asks another store to create an empty replica (see
	// membership.go), passing the leader's region metadata; the app calls
	// the target's AdminService.CreatePeer.
	CreatePeer func(ctx context.Context, target *flaredbv1.Store, regionID, peerID uint64, leader *flaredbv1.Region) error
}

func (c Config) withDefaults() Config {
	if c.SplitSize == 0 {
		c.SplitSize = DefaultSplitSize
	}
	if c.SplitKeys == 0 {
		c.SplitKeys = DefaultSplitKeys
	}
	if c.SplitCheckInterval <= 0 {
		c.SplitCheckInterval = 10 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.RegionHeartbeatInterval <= 0 {
		c.RegionHeartbeatInterval = 10 * time.Second
	}
	if c.ElectionTimeout <= 0 {
		c.ElectionTimeout = time.Second
	}
	if c.PeerGCAfter <= 0 {
		c.PeerGCAfter = defaultPeerGCAfter
	}
	if c.QuiesceAfter <= 0 {
		c.QuiesceAfter = defaultQuiesceAfter
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
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

// Store hosts this process's region replicas on one engine and one raft
// port.
type Store struct {
	cfg  Config
	eng  *engine.Engine
	rlog *raftlog.DB // every region's Raft log and stable state
	mux  *raftmux.Mux
	pd   PDClient
	log  *slog.Logger

	mu     sync.RWMutex
	peers  map[uint64]*Peer
	addrs  map[uint64]string // store id -> raft address
	closed bool
	// members serialises replica creation and destruction (membership.go).
	members membership

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	heartbeats atomic.Uint64 // see countingTransport

	// destroyHook, set by tests only, runs after each step of destroying a
	// removed replica; an error stops the destroy there (destroy.go).
	destroyHook func(regionID uint64, step string) error
}

// Open opens the store's engine and raft port and restarts every region
// replica found in the engine. Call Run to start the background loops.
func Open(cfg Config, pd PDClient) (*Store, error) {
	cfg = cfg.withDefaults()
	if cfg.StoreID == 0 {
		return nil, errors.New("store: store id is required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: data dir: %w", err)
	}
	eo := cfg.Engine
	eo.ApplyNoSync = true // the Raft log is the durable record; see fsm.Snapshot
	eng, err := engine.Open(filepath.Join(cfg.DataDir, "engine"), eo)
	if err != nil {
		return nil, err
	}
	rlog, err := raftlog.Open(filepath.Join(cfg.DataDir, "raftlog"), raftlog.Options{FS: cfg.Engine.FS})
	if err != nil {
		_ = eng.Close()
		return nil, err
	}
	mux, err := raftmux.Listen(cfg.RaftAddr, cfg.RaftAdvertise, cfg.Logger)
	if err != nil {
		_ = rlog.Close()
		_ = eng.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{cfg: cfg, eng: eng, rlog: rlog, mux: mux, pd: pd, log: cfg.Logger.With("store", cfg.StoreID),
		peers: map[uint64]*Peer{}, addrs: map[uint64]string{cfg.StoreID: mux.Addr()}, ctx: ctx, cancel: cancel}
	if err := s.loadRegions(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// ID is the store id.
func (s *Store) ID() uint64 { return s.cfg.StoreID }

// RaftAddr is the address peers dial for Raft.
func (s *Store) RaftAddr() string { return s.mux.Addr() }

// loadRegions restarts every replica the engine holds.
func (s *Store) loadRegions() error {
	reps, err := region.LoadAll(s.eng)
	if err != nil {
		return err
	}
	if reps, err = s.finishReplacements(reps); err != nil {
		return err
	}
	if reps, err = s.finishDestroys(reps); err != nil {
		return err
	}
	loaded := map[uint64]bool{}
	for _, rep := range reps {
		loaded[rep.ID()] = true
		if err := s.restartReplica(rep); err != nil {
			return err
		}
	}
	return s.loadEmptyPeers(loaded)
}

// restartReplica starts the group of a replica loaded from the engine.
func (s *Store) restartReplica(rep *region.Replica) error {
	meta := rep.Region()
	own := s.ownPeer(meta)
	if own == nil {
		// Being added (finishDestroys destroyed the removed ones): filled
		// by a snapshot taken before the region's metadata listed it, so
		// its peer id is only in its peer-id file. Not if the file is
		// newer than the data (a peer created to replace it).
		saved, ok := s.savedPeer(meta.GetId())
		if !ok || (saved.hasConfVer && meta.GetEpoch().GetConfVer() < saved.confVer) {
			return nil
		}
		_, err := s.addPeer(rep, meta.GetId(), saved.id, nil)
		return err
	}
	var boot []raft.Server
	if applied, _ := rep.Applied(); applied == region.InitialAppliedIndex {
		// Born by bootstrap or split but its group may never have
		// started: bootstrap it (a no-op if raft state exists).
		var err error
		if boot, err = s.servers(s.ctx, meta, nil); err != nil {
			return fmt.Errorf("store: region %d: %w", meta.GetId(), err)
		}
	}
	_, err := s.addPeer(rep, meta.GetId(), own.GetId(), boot)
	return err
}

func (s *Store) ownPeer(meta *flaredbv1.Region) *flaredbv1.Peer {
	for _, p := range meta.GetPeers() {
		if p.GetStoreId() == s.cfg.StoreID {
			return p
		}
	}
	return nil
}

// addPeer starts a region's group and registers it.
func (s *Store) addPeer(rep *region.Replica, regionID, peerID uint64, boot []raft.Server) (*Peer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("store: closed")
	}
	if p := s.peers[regionID]; p != nil {
		return p, nil
	}
	p, err := s.startPeer(rep, regionID, peerID, boot)
	if err != nil {
		return nil, err
	}
	s.peers[regionID] = p
	return p, nil
}

// servers is the Raft configuration of meta's peers: each peer's id and
// its store's raft address. known maps peer ids to addresses already known
// (a split child's parent configuration); the rest are resolved.
func (s *Store) servers(ctx context.Context, meta *flaredbv1.Region, known map[uint64]string) ([]raft.Server, error) {
	var out []raft.Server
	for _, p := range meta.GetPeers() {
		addr, err := s.storeAddr(ctx, p.GetStoreId())
		if err != nil {
			return nil, err
		}
		suffrage := raft.Voter
		if p.GetRole() == flaredbv1.PeerRole_PEER_ROLE_LEARNER {
			suffrage = raft.Nonvoter
		}
		out = append(out, raft.Server{Suffrage: suffrage, ID: serverID(p.GetId()), Address: raft.ServerAddress(addr)})
	}
	return out, nil
}

func serverID(peerID uint64) raft.ServerID { return raft.ServerID(strconv.FormatUint(peerID, 10)) }

// storeAddr resolves a store's raft address, from the cache or from PD.
func (s *Store) storeAddr(ctx context.Context, storeID uint64) (string, error) {
	s.mu.RLock()
	addr, ok := s.addrs[storeID]
	s.mu.RUnlock()
	if ok {
		return addr, nil
	}
	if s.pd == nil {
		return "", fmt.Errorf("store %d: raft address unknown and no PD", storeID)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := s.pd.GetStore(ctx, &flaredbv1.GetStoreRequest{StoreId: storeID})
	if err != nil {
		return "", fmt.Errorf("resolve store %d: %w", storeID, err)
	}
	addr = resp.GetStore().GetRaftAddress()
	if addr == "" {
		return "", fmt.Errorf("resolve store %d: PD knows no raft address", storeID)
	}
	s.learnAddr(storeID, addr)
	return addr, nil
}

func (s *Store) learnAddr(storeID uint64, addr string) {
	s.mu.Lock()
	s.addrs[storeID] = addr
	s.mu.Unlock()
}

// Bootstrap creates region meta on this store (the cluster's first region,
// or any region every replica creates identically) and starts its group
// with the region's peers as the initial configuration. It is idempotent.
func (s *Store) Bootstrap(ctx context.Context, meta *flaredbv1.Region) error {
	if p := s.Peer(meta.GetId()); p != nil {
		return nil
	}
	own := s.ownPeer(meta)
	if own == nil {
		return fmt.Errorf("store: region %d has no peer on store %d", meta.GetId(), s.cfg.StoreID)
	}
	boot, err := s.servers(ctx, meta, nil)
	if err != nil {
		return err
	}
	rep, err := region.Open(s.eng, meta.GetId())
	if err != nil {
		if rep, err = region.Create(s.eng, meta); err != nil {
			return err
		}
	}
	_, err = s.addPeer(rep, meta.GetId(), own.GetId(), boot)
	return err
}

// Peer returns the replica of regionID, or nil.
func (s *Store) Peer(regionID uint64) *Peer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.peers[regionID]
}

// Peers returns every hosted replica in region id order.
func (s *Store) Peers() []*Peer {
	s.mu.RLock()
	out := make([]*Peer, 0, len(s.peers))
	for _, p := range s.peers {
		out = append(out, p)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].regionID < out[j].regionID })
	return out
}

// onSplitApplied starts the child region's group on this store. The
// child's peers live on the parent's stores, so the parent's own Raft
// configuration supplies their addresses. It runs in the background: the
// FSM goroutine must not wait on a new group's start-up, and a crash before
// it finishes is repaired by loadRegions on restart.
//
// The parent's configuration is read on that goroutine too: asking raft
// for it from the FSM goroutine could wait on raft's main loop while the
// main loop waits on the FSM.
func (s *Store) onSplitApplied(parent *Peer, sr *region.SplitResult) {
	child := sr.Child
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for id, a := range parent.storeAddrs() {
			s.mu.Lock()
			if _, ok := s.addrs[id]; !ok {
				s.addrs[id] = a
			}
			s.mu.Unlock()
		}
		if err := s.startChild(child); err != nil && s.ctx.Err() == nil {
			s.log.Error("start split child", "region", child.GetId(), "err", err)
		}
	}()
}

func (s *Store) startChild(child *flaredbv1.Region) error {
	own := s.ownPeer(child)
	if own == nil || s.Peer(child.GetId()) != nil {
		return nil
	}
	rep, err := region.Open(s.eng, child.GetId())
	if err != nil {
		return err
	}
	var boot []raft.Server
	if applied, _ := rep.Applied(); applied == region.InitialAppliedIndex {
		if boot, err = s.servers(s.ctx, rep.Region(), nil); err != nil {
			return err
		}
	}
	_, err = s.addPeer(rep, child.GetId(), own.GetId(), boot)
	return err
}

// storeAddrs maps the region's stores to the raft addresses in the
// group's current configuration.
func (p *Peer) storeAddrs() map[uint64]string {
	f := p.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	byPeer := map[string]string{}
	for _, srv := range f.Configuration().Servers {
		byPeer[string(srv.ID)] = string(srv.Address)
	}
	out := map[uint64]string{}
	for _, peer := range p.Region().GetPeers() {
		if a, ok := byPeer[strconv.FormatUint(peer.GetId(), 10)]; ok {
			out[peer.GetStoreId()] = a
		}
	}
	return out
}

// onConfChanged destroys this store's replica once its peer was removed.
func (s *Store) onConfChanged(p *Peer, meta *flaredbv1.Region) {
	if own := s.ownPeer(meta); own != nil && own.GetId() == p.peerID {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.destroyPeer(p); err != nil {
			s.log.Error("destroy removed replica", "region", p.regionID, "err", err)
		}
	}()
}

// detach takes p (a what, for the log) out of the store's regions and
// stops its Raft group, first steps of destroying or replacing it.
func (s *Store) detach(p *Peer, what string) {
	s.mu.Lock()
	if s.peers[p.regionID] == p {
		delete(s.peers, p.regionID)
	}
	s.mu.Unlock()
	if err := p.stop(); err != nil {
		s.log.Warn("stop "+what, "region", p.regionID, "err", err)
	}
}

// Close stops every region and closes the engine and raft port. It does
// not flush anything the Raft log would not already have made durable.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	peers := s.peers
	s.peers = map[uint64]*Peer{}
	s.mu.Unlock()
	s.cancel()
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.stop() }()
	}
	wg.Wait()
	s.wg.Wait()
	err := s.mux.Close()
	if cerr := s.rlog.Close(); err == nil {
		err = cerr
	}
	if cerr := s.eng.Close(); err == nil {
		err = cerr
	}
	return err
}
