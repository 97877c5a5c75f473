package pd

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Defaults for Config fields left zero.
const (
	DefaultPrefix           = "/flaredb/pd"
	DefaultMaxReplicas      = 3
	DefaultMaxStoreDownTime = 30 * time.Minute
	// DefaultMaxPeerDownTime is TiKV's max-peer-down-duration.
	DefaultMaxPeerDownTime = 10 * time.Minute
)

// Errors the service maps to RPC codes.
var (
	ErrNotBootstrapped = errors.New("cluster is not bootstrapped")
	ErrNotFound        = errors.New("not found")
	ErrInvalid         = errors.New("invalid request")
	ErrTombstone       = errors.New("store is tombstoned")
)

// Config configures a Cluster.
type Config struct {
	// Backend is where PD keeps its state (Chainfire).
	Backend Backend
	// Prefix is the key prefix of PD's state in Chainfire.
	Prefix string
	// MaxReplicas is the number of voters every region should have.
	MaxReplicas int
	// MaxStoreDownTime is how long a store may be silent before its peers
	// are replaced elsewhere.
	MaxStoreDownTime time.Duration
	// MaxPeerDownTime is how long a region's leader may fail to reach a
	// peer whose store is up (heartbeating) before the peer is replaced:
	// typically the store missed a split and never created the replica.
	MaxPeerDownTime time.Duration
	// IDBatch is how many ids one allocator round trip reserves.
	IDBatch uint64
	Logger  *slog.Logger
	// Registerer receives PD's Prometheus metrics; nil skips them.
	Registerer prometheus.Registerer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.MaxReplicas <= 0 {
		c.MaxReplicas = DefaultMaxReplicas
	}
	if c.MaxStoreDownTime <= 0 {
		c.MaxStoreDownTime = DefaultMaxStoreDownTime
	}
	if c.MaxPeerDownTime <= 0 {
		c.MaxPeerDownTime = DefaultMaxPeerDownTime
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Cluster is PD's state: cluster id, stores, routing table, allocator and
// pending scheduling operators.
type Cluster struct {
	cfg  Config
	meta *metaStore
	ids  *idAllocator
	log  *slog.Logger
	m    *metrics

	// writeMu serialises state changes end to end (check, persist, apply),
	// so what is in memory is never ahead of Chainfire and never decided
	// from a view another change is about to replace.
	writeMu sync.Mutex

	mu        sync.RWMutex // guards the fields below
	clusterID uint64
	stores    *storeSet
	regions   *regionTree
	pending   map[uint64]*pendingOp
}

// Open loads PD's state from the backend.
func Open(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if cfg.Backend == nil {
		return nil, errors.New("pd: no backend")
	}
	meta := &metaStore{kv: cfg.Backend, prefix: cfg.Prefix}
	c := &Cluster{
		cfg:     cfg,
		meta:    meta,
		ids:     newIDAllocator(meta, cfg.IDBatch),
		log:     cfg.Logger,
		stores:  newStoreSet(cfg.Now()),
		regions: newRegionTree(),
		pending: make(map[uint64]*pendingOp),
	}
	id, err := meta.loadClusterID(ctx)
	if err != nil {
		return nil, err
	}
	stores, err := meta.loadStores(ctx)
	if err != nil {
		return nil, err
	}
	regions, err := meta.loadRegions(ctx)
	if err != nil {
		return nil, err
	}
	c.clusterID = id
	for _, s := range stores {
		c.stores.put(s)
	}
	for _, r := range regions {
		replaced, err := c.regions.checkUpdate(r.GetRegion())
		if err != nil {
			// Two saved regions conflict (e.g. a crash between heartbeats
			// of a split's halves): keep the newer one, as a heartbeat would.
			c.log.Warn("skipping stale saved region", "region", r.GetRegion().GetId(), "error", err.Error())
			continue
		}
		c.regions.apply(r, replaced)
	}
	// Metrics are registered only once the state is loaded, so a caller
	// retrying Open (Chainfire not up yet) never registers them twice.
	m, err := newMetrics(cfg.Registerer, c)
	if err != nil {
		return nil, fmt.Errorf("pd: metrics: %w", err)
	}
	c.m = m
	c.ids.onReserve = m.idBatch
	c.log.Info("loaded state", "cluster_id", id, "stores", len(stores), "regions", c.regions.len())
	return c, nil
}

// Ready reports whether Chainfire answers.
func (c *Cluster) Ready(ctx context.Context) error { return c.meta.ping(ctx) }

// MaxReplicas is the replication target.
func (c *Cluster) MaxReplicas() int { return c.cfg.MaxReplicas }

// ClusterID returns the cluster id, 0 before bootstrap.
func (c *Cluster) ClusterID() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.clusterID
}

// AllocIDs returns n new unique ids.
func (c *Cluster) AllocIDs(ctx context.Context, n int) ([]uint64, error) {
	return c.ids.alloc(ctx, n)
}

// Bootstrap creates the cluster with store and its first region (built by
// PD when region is nil). On an existing cluster it registers store if new
// and returns the existing id with created false.
func (c *Cluster) Bootstrap(ctx context.Context, store *flaredbv1.Store, region *flaredbv1.Region) (uint64, bool, error) {
	if err := validStore(store); err != nil {
		return 0, false, err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if id := c.ClusterID(); id != 0 {
		return id, false, c.registerLocked(ctx, store)
	}
	region, err := c.firstRegion(ctx, store, region)
	if err != nil {
		return 0, false, err
	}
	store = withState(store, flaredbv1.StoreState_STORE_STATE_UP)
	info := &flaredbv1.RegionInfo{Region: region, Leader: proto.CloneOf(region.GetPeers()[0])}
	id, created, err := c.meta.bootstrap(ctx, newClusterID(c.cfg.Now()), store, info)
	if err != nil {
		return 0, false, err
	}
	if !created {
		// Another PD bootstrapped first: adopt what it wrote.
		c.mu.Lock()
		c.clusterID = id
		c.mu.Unlock()
		return id, false, c.registerLocked(ctx, store)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clusterID = id
	c.stores.put(store)
	replaced, err := c.regions.checkUpdate(region)
	if err != nil {
		return 0, false, err
	}
	c.regions.apply(info, replaced)
	c.log.Info("bootstrapped cluster", "cluster_id", id, "store", store.GetId(), "region", region.GetId())
	return id, true, nil
}

// firstRegion validates the caller's first region or builds one covering
// the whole key space with a single peer on store.
func (c *Cluster) firstRegion(ctx context.Context, store *flaredbv1.Store, r *flaredbv1.Region) (*flaredbv1.Region, error) {
	if r == nil {
		ids, err := c.ids.alloc(ctx, 2)
		if err != nil {
			return nil, err
		}
		return &flaredbv1.Region{
			Id:    ids[0],
			Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1},
			Peers: []*flaredbv1.Peer{{Id: ids[1], StoreId: store.GetId(), Role: flaredbv1.PeerRole_PEER_ROLE_VOTER}},
		}, nil
	}
	if err := validRegion(r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(r.GetStartKey()) != 0 || len(r.GetEndKey()) != 0 {
		return nil, fmt.Errorf("%w: the first region must cover the whole key space", ErrInvalid)
	}
	if len(r.GetPeers()) != 1 || r.GetPeers()[0].GetStoreId() != store.GetId() {
		return nil, fmt.Errorf("%w: the first region must have one peer, on the bootstrapping store", ErrInvalid)
	}
	return proto.CloneOf(r), nil
}

func newClusterID(now time.Time) uint64 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	// Like TiKV's: seconds in the high bits, randomness in the low bits.
	return uint64(now.Unix())<<32 | uint64(binary.BigEndian.Uint32(b[:]))
}

func validStore(s *flaredbv1.Store) error {
	switch {
	case s == nil:
		return fmt.Errorf("%w: missing store", ErrInvalid)
	case s.GetId() == 0:
		return fmt.Errorf("%w: store id 0", ErrInvalid)
	case s.GetAddress() == "":
		return fmt.Errorf("%w: store %d has no address", ErrInvalid, s.GetId())
	}
	return nil
}

func withState(s *flaredbv1.Store, st flaredbv1.StoreState) *flaredbv1.Store {
	s = proto.CloneOf(s)
	s.State = st
	return s
}

// registerLocked records store if it is new or its metadata changed.
// writeMu must be held.
func (c *Cluster) registerLocked(ctx context.Context, store *flaredbv1.Store) error {
	c.mu.RLock()
	cur := c.stores.get(store.GetId())
	c.mu.RUnlock()
	state := flaredbv1.StoreState_STORE_STATE_UP
	if cur != nil {
		if isTombstone(cur) {
			return fmt.Errorf("%w: store %d", ErrTombstone, store.GetId())
		}
		state = cur.meta.GetState()
	}
	store = withState(store, state)
	if cur != nil && proto.Equal(cur.meta, store) {
		return nil
	}
	if err := c.meta.putStore(ctx, store); err != nil {
		return err
	}
	c.mu.Lock()
	c.stores.put(store)
	c.mu.Unlock()
	return nil
}

// StoreHeartbeat registers or refreshes a store and records its stats.
func (c *Cluster) StoreHeartbeat(ctx context.Context, store *flaredbv1.Store, stats *flaredbv1.StoreStats) error {
	if store == nil {
		c.mu.RLock()
		cur := c.stores.get(stats.GetStoreId())
		c.mu.RUnlock()
		if cur == nil {
			return fmt.Errorf("%w: store %d is unknown and the heartbeat has no store metadata", ErrInvalid, stats.GetStoreId())
		}
		store = cur.meta
	}
	if err := validStore(store); err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.registerLocked(ctx, store); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stores.get(store.GetId())
	now := c.cfg.Now()
	st.stats = proto.CloneOf(stats)
	st.lastHeartbeat = now
	if stats != nil {
		st.startedAt = now.Add(-time.Duration(stats.GetUptimeMs()) * time.Millisecond)
	}
	return nil
}

// SetStoreState moves a store through its lifecycle: UP <-> OFFLINE
// (offline stores get no new replicas and theirs are moved away), and from
// either to TOMBSTONE, which is final (its replicas are removed at once).
func (c *Cluster) SetStoreState(ctx context.Context, id uint64, state flaredbv1.StoreState) (*flaredbv1.Store, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.RLock()
	cur := c.stores.get(id)
	c.mu.RUnlock()
	if cur == nil {
		return nil, fmt.Errorf("%w: store %d", ErrNotFound, id)
	}
	from := cur.meta.GetState()
	switch {
	case state == flaredbv1.StoreState_STORE_STATE_UNSPECIFIED:
		return nil, fmt.Errorf("%w: no state given", ErrInvalid)
	case from == flaredbv1.StoreState_STORE_STATE_TOMBSTONE && state != from:
		return nil, fmt.Errorf("%w: store %d", ErrTombstone, id)
	}
	store := withState(cur.meta, state)
	if from != state {
		if err := c.meta.putStore(ctx, store); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.stores.put(store)
		c.mu.Unlock()
		c.log.Info("store state changed", "store", id, "from", from.String(), "to", state.String())
	}
	return proto.CloneOf(store), nil
}

// RegionHeartbeat records what a region's leader reports and returns the
// membership change PD wants the leader to make, if any.
func (c *Cluster) RegionHeartbeat(ctx context.Context, info *flaredbv1.RegionInfo) (*flaredbv1.ChangePeerOperator, error) {
	info = normalize(info)
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.ClusterID() == 0 {
		return nil, ErrNotBootstrapped
	}
	changed, err := c.updateRegionsLocked(ctx, info)
	switch {
	case errors.Is(err, errStale):
		c.m.heartbeat("stale")
		return nil, err
	case err != nil:
		c.m.heartbeat("error")
		return nil, err
	case changed:
		c.m.heartbeat("updated")
	default:
		c.m.heartbeat("unchanged")
	}
	return c.checkReplicasLocked(ctx, info)
}

// normalize copies info and drops a leader that is not one of its peers.
func normalize(info *flaredbv1.RegionInfo) *flaredbv1.RegionInfo {
	info = proto.CloneOf(info)
	if l := info.GetLeader(); l != nil && findPeer(info.GetRegion(), l.GetId()) == nil {
		info.Leader = nil
	}
	return info
}

func findPeer(r *flaredbv1.Region, id uint64) *flaredbv1.Peer {
	for _, p := range r.GetPeers() {
		if p.GetId() == id {
			return p
		}
	}
	return nil
}

// updateRegionsLocked applies region updates that must land together (one
// heartbeat, or a split's two halves): each must be newer than everything
// it overlaps in the current table. It reports whether metadata changed
// (false: only statistics). writeMu must be held.
func (c *Cluster) updateRegionsLocked(ctx context.Context, infos ...*flaredbv1.RegionInfo) (bool, error) {
	c.mu.RLock()
	replaced := make(map[uint64]*flaredbv1.RegionInfo)
	var changed []*flaredbv1.RegionInfo
	for _, info := range infos {
		olds, err := c.regions.checkUpdate(info.GetRegion())
		if err != nil {
			c.mu.RUnlock()
			if errors.Is(err, errStale) {
				return false, err
			}
			return false, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if len(infos) == 1 && len(olds) == 1 && sameMeta(olds[0], info) {
			c.mu.RUnlock()
			c.updateStats(olds[0], info)
			return false, nil
		}
		for _, o := range olds {
			replaced[o.GetRegion().GetId()] = o
		}
		changed = append(changed, info)
	}
	c.mu.RUnlock()
	var del []uint64
	for id := range replaced {
		if !containsRegion(infos, id) {
			del = append(del, id)
		}
	}
	if err := c.meta.saveRegions(ctx, changed, del); err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range replaced {
		c.regions.remove(o)
	}
	for _, info := range changed {
		c.regions.insert(info)
		if p := c.pending[info.GetRegion().GetId()]; p != nil && p.confVer != info.GetRegion().GetEpoch().GetConfVer() {
			delete(c.pending, info.GetRegion().GetId())
		}
	}
	for _, id := range del {
		delete(c.pending, id)
	}
	return true, nil
}

func containsRegion(infos []*flaredbv1.RegionInfo, id uint64) bool {
	for _, i := range infos {
		if i.GetRegion().GetId() == id {
			return true
		}
	}
	return false
}

// updateStats refreshes the size statistics of a region whose metadata did
// not change; they are not persisted (the next heartbeat brings them again).
func (c *Cluster) updateStats(cur, info *flaredbv1.RegionInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur.ApproximateSize = info.GetApproximateSize()
	cur.ApproximateKeys = info.GetApproximateKeys()
	cur.DownPeers = info.GetDownPeers()
}

// checkReplicasLocked runs the replica checker for one region. writeMu
// must be held.
func (c *Cluster) checkReplicasLocked(ctx context.Context, info *flaredbv1.RegionInfo) (*flaredbv1.ChangePeerOperator, error) {
	r := info.GetRegion()
	now := c.cfg.Now()
	c.mu.RLock()
	if p := c.pending[r.GetId()]; p != nil && p.confVer == r.GetEpoch().GetConfVer() && now.Sub(p.created) < operatorTimeout {
		c.mu.RUnlock()
		return proto.CloneOf(p.op), nil
	}
	pl := placement{
		maxReplicas:     c.cfg.MaxReplicas,
		now:             now,
		downAfter:       c.cfg.MaxStoreDownTime,
		maxPeerDownTime: c.cfg.MaxPeerDownTime,
		stores:          c.stores,
		load:            c.loadLocked,
	}
	decision := pl.check(r, info.GetLeader(), info.GetDownPeers())
	c.mu.RUnlock()
	op := decision.op
	if decision.addStore != 0 {
		ids, err := c.ids.alloc(ctx, 1)
		if err != nil {
			return nil, err
		}
		op = &flaredbv1.ChangePeerOperator{Peer: &flaredbv1.Peer{
			Id: ids[0], StoreId: decision.addStore, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER,
		}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if op == nil {
		delete(c.pending, r.GetId())
		return nil, nil
	}
	c.pending[r.GetId()] = &pendingOp{op: op, confVer: r.GetEpoch().GetConfVer(), created: now}
	c.m.operator(op, decision.addStore != 0)
	c.log.Info("replica checker", "region", r.GetId(), "remove", op.GetRemove(), "peer", op.GetPeer().GetId(), "store", op.GetPeer().GetStoreId(), "reason", decision.reason)
	return proto.CloneOf(op), nil
}

// loadLocked counts the peers on a store, including pending additions. mu
// must be held.
func (c *Cluster) loadLocked(storeID uint64) int {
	n := c.regions.peers[storeID]
	for _, p := range c.pending {
		if !p.op.GetRemove() && p.op.GetPeer().GetStoreId() == storeID {
			n++
		}
	}
	return n
}

// AskSplit allocates the ids a split of r needs: one region id and one
// peer id per peer, in peer order.
func (c *Cluster) AskSplit(ctx context.Context, r *flaredbv1.Region) (uint64, []uint64, error) {
	if err := validRegion(r); err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c.mu.RLock()
	cur := c.regions.get(r.GetId())
	c.mu.RUnlock()
	if cur != nil && olderEpoch(r.GetEpoch(), cur.GetRegion().GetEpoch()) {
		return 0, nil, fmt.Errorf("%w: region %d epoch %v is older than the known %v", errStale, r.GetId(), r.GetEpoch(), cur.GetRegion().GetEpoch())
	}
	ids, err := c.ids.alloc(ctx, 1+len(r.GetPeers()))
	if err != nil {
		return 0, nil, err
	}
	return ids[0], ids[1:], nil
}

// ReportSplit records an applied split: left is the new region, right the
// parent with its shrunk range. Leaders default to the parent's leader's
// store, where the split was proposed.
func (c *Cluster) ReportSplit(ctx context.Context, left, right *flaredbv1.Region) error {
	if left == nil || right == nil || len(left.GetEndKey()) == 0 || string(left.GetEndKey()) != string(right.GetStartKey()) || left.GetId() == right.GetId() {
		return fmt.Errorf("%w: a split report needs two adjacent regions with different ids", ErrInvalid)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.ClusterID() == 0 {
		return ErrNotBootstrapped
	}
	var leaderStore uint64
	c.mu.RLock()
	if parent := c.regions.get(right.GetId()); parent != nil {
		leaderStore = parent.GetLeader().GetStoreId()
	}
	c.mu.RUnlock()
	_, err := c.updateRegionsLocked(ctx,
		&flaredbv1.RegionInfo{Region: proto.CloneOf(left), Leader: peerOnStore(left, leaderStore)},
		&flaredbv1.RegionInfo{Region: proto.CloneOf(right), Leader: peerOnStore(right, leaderStore)},
	)
	return err
}

func peerOnStore(r *flaredbv1.Region, storeID uint64) *flaredbv1.Peer {
	for _, p := range r.GetPeers() {
		if p.GetStoreId() == storeID {
			return proto.CloneOf(p)
		}
	}
	return nil
}
