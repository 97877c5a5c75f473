package pd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/flaredb/internal/pd/pdtest"
	"github.com/photoncloud/core/proto/etcdserverpb"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func TestMain(m *testing.M) { os.Exit(pdtest.Main(m)) }

// fixture is a real Chainfire member plus what is needed to open PDs on it.
type fixture struct {
	t       testing.TB
	backend Backend
	prefix  string
	clock   *fakeClock
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var (
	sharedOnce sync.Once
	sharedCF   *pdtest.Chainfire
)

// newFixture gives each test its own key prefix on one Chainfire process
// shared by the package's tests (starting a member per test would
// dominate the run time).
func newFixture(t testing.TB) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Chainfire process")
	}
	sharedOnce.Do(func() { sharedCF = pdtest.StartChainfireShared(t) })
	if sharedCF == nil {
		t.Fatal("chainfire did not start")
	}
	b, err := NewChainfireBackend([]string{sharedCF.Endpoint}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, backend: b, prefix: "/test/" + t.Name(), clock: &fakeClock{now: time.Unix(1_800_000_000, 0)}}
}

func (f *fixture) open(cfg Config) *Cluster {
	f.t.Helper()
	cfg.Backend = f.backend
	cfg.Prefix = f.prefix
	cfg.Now = f.clock.Now
	if cfg.IDBatch == 0 {
		cfg.IDBatch = 7
	}
	c, err := Open(context.Background(), cfg)
	if err != nil {
		f.t.Fatalf("open PD: %v", err)
	}
	return c
}

func store(id uint64) *flaredbv1.Store {
	return &flaredbv1.Store{Id: id, Address: fmt.Sprintf("127.0.0.1:%d", 20160+id), RaftAddress: fmt.Sprintf("127.0.0.1:%d", 20260+id)}
}

func bootstrap(t *testing.T, c *Cluster) *flaredbv1.RegionInfo {
	t.Helper()
	ctx := context.Background()
	if _, created, err := c.Bootstrap(ctx, store(1), nil); err != nil || !created {
		t.Fatalf("Bootstrap = %v, %v; want created", created, err)
	}
	r := c.Region(nil, false)
	if r == nil {
		t.Fatal("no first region after bootstrap")
	}
	return r
}

func TestBootstrapIsIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.open(Config{})
	if _, err := a.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: region(9, "", "", 1, 1, 1)}); !errors.Is(err, ErrNotBootstrapped) {
		t.Fatalf("heartbeat before bootstrap = %v, want ErrNotBootstrapped", err)
	}
	first := bootstrap(t, a)
	if len(first.GetRegion().GetPeers()) != 1 || first.GetRegion().GetPeers()[0].GetStoreId() != 1 ||
		len(first.GetRegion().GetStartKey())+len(first.GetRegion().GetEndKey()) != 0 {
		t.Fatalf("first region = %v, want the whole key space with one peer on store 1", first)
	}
	id := a.ClusterID()
	// The same PD again, and a second PD that has not seen the bootstrap:
	// both answer with the existing cluster and register the new store.
	b := f.open(Config{})
	for _, c := range []*Cluster{a, b} {
		got, created, err := c.Bootstrap(ctx, store(2), nil)
		if err != nil || created || got != id {
			t.Fatalf("second Bootstrap = %d, %v, %v; want %d, false, nil", got, created, err, id)
		}
	}
	if b.ClusterID() != id {
		t.Fatalf("second PD cluster id = %d, want %d", b.ClusterID(), id)
	}
	c := f.open(Config{})
	if c.RegionCount() != 1 || len(c.Stores()) != 2 || c.ClusterID() != id {
		t.Fatalf("reopened: %d regions, %d stores, cluster %d; want 1, 2, %d", c.RegionCount(), len(c.Stores()), c.ClusterID(), id)
	}
	if _, _, err := c.Bootstrap(ctx, &flaredbv1.Store{Id: 3}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bootstrap with a store without address = %v, want ErrInvalid", err)
	}
}

// TestIDsUniqueAcrossRestartsAndPDs allocates from PDs that restart and
// from two PDs at once: no id may ever repeat.
func TestIDsUniqueAcrossRestartsAndPDs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	seen := make(map[uint64]bool)
	var mu sync.Mutex
	record := func(ids []uint64) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if id == 0 || seen[id] {
				t.Errorf("id %d handed out twice (or zero)", id)
			}
			seen[id] = true
		}
	}
	for range 3 { // three "restarts"
		c := f.open(Config{IDBatch: 5})
		for range 12 {
			ids, err := c.AllocIDs(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			record(ids)
		}
	}
	a, b := f.open(Config{IDBatch: 3}), f.open(Config{IDBatch: 3})
	var wg sync.WaitGroup
	for _, c := range []*Cluster{a, b, a, b} {
		wg.Go(func() {
			for range 15 {
				ids, err := c.AllocIDs(ctx, 2)
				if err != nil {
					t.Error(err)
					return
				}
				record(ids)
			}
		})
	}
	wg.Wait()
	if len(seen) != 3*12+4*15*2 {
		t.Fatalf("got %d distinct ids, want %d", len(seen), 3*12+4*15*2)
	}
}

// split reports a right-derived split of parent at key, as a store would.
func split(t *testing.T, c *Cluster, parent *flaredbv1.Region, key string) (left, right *flaredbv1.Region) {
	t.Helper()
	ctx := context.Background()
	newID, peerIDs, err := c.AskSplit(ctx, parent)
	if err != nil {
		t.Fatalf("AskSplit: %v", err)
	}
	epoch := &flaredbv1.RegionEpoch{ConfVer: parent.GetEpoch().GetConfVer(), Version: parent.GetEpoch().GetVersion() + 1}
	left = &flaredbv1.Region{Id: newID, StartKey: parent.GetStartKey(), EndKey: []byte(key), Epoch: epoch}
	for i, p := range parent.GetPeers() {
		left.Peers = append(left.Peers, &flaredbv1.Peer{Id: peerIDs[i], StoreId: p.GetStoreId(), Role: p.GetRole()})
	}
	right = proto.CloneOf(parent)
	right.StartKey = []byte(key)
	right.Epoch = proto.CloneOf(epoch)
	if err := c.ReportSplit(ctx, left, right); err != nil {
		t.Fatalf("ReportSplit: %v", err)
	}
	return left, right
}

func routing(c *Cluster) []*flaredbv1.RegionInfo { return c.ScanRegions(nil, nil, 0) }

func sameRouting(t *testing.T, got, want []*flaredbv1.RegionInfo) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("routing table has %d regions, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := proto.CloneOf(got[i]), proto.CloneOf(want[i])
		g.ApproximateKeys, g.ApproximateSize, w.ApproximateKeys, w.ApproximateSize = 0, 0, 0, 0
		if !proto.Equal(g, w) {
			t.Fatalf("region %d differs:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
}

// TestRestartRecoversRoutingTable splits, moves leaders and changes
// membership, then checks a new PD on the same Chainfire state answers
// exactly the same routing table and stores, and discards stale
// heartbeats just as the old one did.
func TestRestartRecoversRoutingTable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.open(Config{})
	first := bootstrap(t, c).GetRegion()
	for _, id := range []uint64{2, 3} {
		if err := c.StoreHeartbeat(ctx, store(id), &flaredbv1.StoreStats{StoreId: id}); err != nil {
			t.Fatal(err)
		}
	}
	// Membership change: region gains peers on stores 2 and 3.
	grown := proto.CloneOf(first)
	grown.Peers = append(grown.Peers,
		&flaredbv1.Peer{Id: 901, StoreId: 2, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER},
		&flaredbv1.Peer{Id: 902, StoreId: 3, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER})
	grown.Epoch.ConfVer += 2
	if _, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: grown, Leader: grown.GetPeers()[0]}); err != nil {
		t.Fatal(err)
	}
	_, right := split(t, c, grown, "m")
	left2, right2 := split(t, c, right, "t")
	// Leader moves to store 3 in the rightmost region.
	if _, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: right2, Leader: right2.GetPeers()[2], ApproximateSize: 1234}); err != nil {
		t.Fatal(err)
	}
	before := routing(c)
	if len(before) != 3 {
		t.Fatalf("%d regions after two splits, want 3", len(before))
	}

	re := f.open(Config{})
	sameRouting(t, routing(re), before)
	if got := re.Region([]byte("p"), false).GetRegion().GetId(); got != left2.GetId() {
		t.Fatalf("after restart key p routes to region %d, want %d", got, left2.GetId())
	}
	if got := re.RegionByID(right2.GetId()).GetLeader().GetStoreId(); got != 3 {
		t.Fatalf("after restart leader of region %d is on store %d, want 3", right2.GetId(), got)
	}
	if len(re.Stores()) != 3 || re.Store(2).GetStore().GetAddress() != store(2).GetAddress() {
		t.Fatalf("after restart stores = %v", re.Stores())
	}
	// The pre-split parent is stale for the restarted PD too.
	if _, err := re.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: grown, Leader: grown.GetPeers()[0]}); !errors.Is(err, errStale) {
		t.Fatalf("stale heartbeat after restart = %v, want errStale", err)
	}
	// Ids allocated after the restart never collide with region ids.
	ids, err := re.AllocIDs(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if re.RegionByID(id) != nil {
			t.Fatalf("allocated id %d is already a region id", id)
		}
	}
}

// TestStaleHeartbeatsDiscarded sends heartbeats with older epochs after a
// split and a membership change; none may change the table, in memory or
// in Chainfire.
func TestStaleHeartbeatsDiscarded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.open(Config{MaxReplicas: 1, Registerer: prometheus.NewRegistry()})
	parent := bootstrap(t, c).GetRegion()
	left, right := split(t, c, parent, "k")
	// Membership change on the left child: conf_ver + 1.
	if err := c.StoreHeartbeat(ctx, store(2), nil); err != nil {
		t.Fatal(err)
	}
	changed := proto.CloneOf(left)
	changed.Peers = append(changed.Peers, &flaredbv1.Peer{Id: 777, StoreId: 2, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER})
	changed.Epoch.ConfVer++
	if _, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: changed, Leader: changed.GetPeers()[0]}); err != nil {
		t.Fatal(err)
	}
	want := routing(c)
	for name, hb := range map[string]*flaredbv1.Region{
		"parent before split":         parent,
		"left before conf change":     left,
		"unknown region, old version": region(4242, "a", "z", 5, 1, 1),
	} {
		if _, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: hb, Leader: hb.GetPeers()[0]}); !errors.Is(err, errStale) {
			t.Errorf("%s: heartbeat = %v, want errStale", name, err)
		}
	}
	if err := c.ReportSplit(ctx, left, right); !errors.Is(err, errStale) {
		t.Errorf("replayed split report = %v, want errStale", err)
	}
	if got := testutil.ToFloat64(c.m.heartbeats.WithLabelValues("stale")); got != 3 {
		t.Errorf("stale heartbeats counted %v, want 3", got)
	}
	sameRouting(t, routing(c), want)
	sameRouting(t, routing(f.open(Config{})), want)
}

// TestReplicaCheckerGrowsRegion brings a one-peer region to three replicas
// one add-peer instruction at a time, least-loaded store first, repeating
// a pending instruction instead of inventing new peers.
func TestReplicaCheckerGrowsRegion(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.open(Config{})
	r := bootstrap(t, c).GetRegion()
	// Store 2 already hosts many peers (of other regions); 3 and 4 few.
	for id, avail := range map[uint64]uint64{1: 10, 2: 50, 3: 30, 4: 40} {
		if err := c.StoreHeartbeat(ctx, store(id), &flaredbv1.StoreStats{StoreId: id, Available: avail}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		other := region(uint64(1000+i), fmt.Sprintf("zz%d", i), fmt.Sprintf("zz%d", i+1), 1, 99, 2)
		if _, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: other, Leader: other.GetPeers()[0]}); err != nil {
			t.Fatal(err)
		}
	}
	// Shrink the first region so it does not overlap the others.
	r.EndKey = []byte("zz0")
	r.Epoch.Version++
	var stores []uint64
	for len(r.GetPeers()) < 3 {
		op, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: r, Leader: r.GetPeers()[0]})
		if err != nil {
			t.Fatal(err)
		}
		if op == nil || op.GetRemove() || op.GetPeer().GetId() == 0 || op.GetPeer().GetRole() != flaredbv1.PeerRole_PEER_ROLE_VOTER {
			t.Fatalf("with %d peers the checker answered %v, want add voter", len(r.GetPeers()), op)
		}
		again, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: r, Leader: r.GetPeers()[0]})
		if err != nil || !proto.Equal(again, op) {
			t.Fatalf("repeated heartbeat answered %v, %v; want the pending %v", again, err, op)
		}
		// The leader applies it: conf_ver + 1.
		r = proto.CloneOf(r)
		r.Peers = append(r.Peers, op.GetPeer())
		r.Epoch.ConfVer++
		stores = append(stores, op.GetPeer().GetStoreId())
	}
	if stores[0] != 4 || stores[1] != 3 {
		t.Fatalf("peers added on stores %v, want [4 3] (fewest peers, then most space)", stores)
	}
	op, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: r, Leader: r.GetPeers()[0]})
	if err != nil || op != nil {
		t.Fatalf("at 3 replicas the checker answered %v, %v; want nothing", op, err)
	}
}

// TestReplicaCheckerReplacesDownStore lets a store miss heartbeats past
// --max-store-down-time: its peer is replaced on a healthy store first,
// then removed; a tombstoned store's peer is removed at once.
func TestReplicaCheckerReplacesDownStore(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.open(Config{MaxStoreDownTime: time.Minute})
	first := bootstrap(t, c).GetRegion()
	beat := func(ids ...uint64) {
		for _, id := range ids {
			if err := c.StoreHeartbeat(ctx, store(id), &flaredbv1.StoreStats{StoreId: id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	beat(1, 2, 3, 4)
	r := proto.CloneOf(first)
	r.Peers = append(r.Peers,
		&flaredbv1.Peer{Id: 801, StoreId: 2, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER},
		&flaredbv1.Peer{Id: 802, StoreId: 3, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER})
	r.Epoch.ConfVer += 2
	hb := func() *flaredbv1.ChangePeerOperator {
		t.Helper()
		op, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: r, Leader: r.GetPeers()[0]})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	if op := hb(); op != nil {
		t.Fatalf("healthy region got %v", op)
	}
	// Store 3 goes silent past the down time; the others keep beating.
	f.clock.Advance(45 * time.Second)
	beat(1, 2, 4)
	f.clock.Advance(45 * time.Second)
	beat(1, 2, 4)
	if !c.Store(3).GetDown() || c.Store(4).GetDown() {
		t.Fatalf("store 3 down = %v, store 4 down = %v; want true, false", c.Store(3).GetDown(), c.Store(4).GetDown())
	}
	op := hb()
	if op == nil || op.GetRemove() || op.GetPeer().GetStoreId() != 4 {
		t.Fatalf("with store 3 down the checker answered %v, want add a peer on store 4", op)
	}
	r.Peers = append(r.Peers, op.GetPeer())
	r.Epoch.ConfVer++
	op = hb()
	if op == nil || !op.GetRemove() || op.GetPeer().GetId() != 802 {
		t.Fatalf("after the replacement the checker answered %v, want remove peer 802 on down store 3", op)
	}
	// The leader applies the removal: peers on stores 1, 2, 4.
	r.Peers = []*flaredbv1.Peer{r.Peers[0], r.Peers[1], r.Peers[3]}
	r.Epoch.ConfVer++
	if op := hb(); op != nil {
		t.Fatalf("after the removal the checker answered %v, want nothing", op)
	}
	// Tombstoning store 2 removes its peer without waiting for a replacement
	// (store 3 is down, so there is none).
	if _, err := c.SetStoreState(ctx, 2, flaredbv1.StoreState_STORE_STATE_TOMBSTONE); err != nil {
		t.Fatal(err)
	}
	if op := hb(); op == nil || !op.GetRemove() || op.GetPeer().GetStoreId() != 2 {
		t.Fatalf("with store 2 tombstoned the checker answered %v, want remove its peer", op)
	}
	if err := c.StoreHeartbeat(ctx, store(2), nil); !errors.Is(err, ErrTombstone) {
		t.Fatalf("heartbeat of a tombstoned store = %v, want ErrTombstone", err)
	}
	if _, err := c.SetStoreState(ctx, 2, flaredbv1.StoreState_STORE_STATE_UP); !errors.Is(err, ErrTombstone) {
		t.Fatalf("reviving a tombstoned store = %v, want ErrTombstone", err)
	}
	if got := f.open(Config{}).Store(2).GetStore().GetState(); got != flaredbv1.StoreState_STORE_STATE_TOMBSTONE {
		t.Fatalf("after restart store 2 is %v, want tombstone", got)
	}
}

// TestReplicaCheckerDrainsOfflineStore: an operator takes a store offline;
// its peer is replaced on another store, then removed, and the store gets
// no new replicas.
func TestReplicaCheckerDrainsOfflineStore(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.open(Config{})
	first := bootstrap(t, c).GetRegion()
	for id := uint64(1); id <= 4; id++ {
		if err := c.StoreHeartbeat(ctx, store(id), &flaredbv1.StoreStats{StoreId: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SetStoreState(ctx, 4, flaredbv1.StoreState_STORE_STATE_OFFLINE); err != nil {
		t.Fatal(err)
	}
	r := proto.CloneOf(first)
	r.Peers = append(r.Peers, &flaredbv1.Peer{Id: 801, StoreId: 2, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER})
	r.Epoch.ConfVer++
	op, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: r, Leader: r.GetPeers()[0]})
	if err != nil || op.GetPeer().GetStoreId() != 3 || op.GetRemove() {
		t.Fatalf("with store 4 offline the checker answered %v, %v; want add on store 3", op, err)
	}
	if _, err := c.SetStoreState(ctx, 3, flaredbv1.StoreState_STORE_STATE_OFFLINE); err != nil {
		t.Fatal(err)
	}
	r.Peers = append(r.Peers, op.GetPeer())
	r.Epoch.ConfVer++
	// Store 3 (now offline) holds a peer and no up store is free: the
	// checker leaves it until a replacement exists.
	if op, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: r, Leader: r.GetPeers()[0]}); err != nil || op != nil {
		t.Fatalf("with no replacement available the checker answered %v, %v; want nothing", op, err)
	}
	if _, err := c.SetStoreState(ctx, 4, flaredbv1.StoreState_STORE_STATE_UP); err != nil {
		t.Fatal(err)
	}
	op, err = c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: r, Leader: r.GetPeers()[0]})
	if err != nil || op.GetPeer().GetStoreId() != 4 || op.GetRemove() {
		t.Fatalf("with store 4 back up the checker answered %v, %v; want add on store 4", op, err)
	}
	r.Peers = append(r.Peers, op.GetPeer())
	r.Epoch.ConfVer++
	op, err = c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: r, Leader: r.GetPeers()[0]})
	if err != nil || !op.GetRemove() || op.GetPeer().GetStoreId() != 3 {
		t.Fatalf("after the replacement the checker answered %v, %v; want remove the peer on offline store 3", op, err)
	}
}

// flakyBackend fails its first calls, like a Chainfire that is still
// starting.
type flakyBackend struct {
	Backend
	fails atomic.Int32
}

func (b *flakyBackend) Range(ctx context.Context, req *etcdserverpb.RangeRequest) (*etcdserverpb.RangeResponse, error) {
	if b.fails.Add(-1) >= 0 {
		return nil, errors.New("connection refused")
	}
	return b.Backend.Range(ctx, req)
}

// TestOpenRetriesWithMetrics: PD retries Open until Chainfire answers; the
// retries must not trip over metrics registered by a failed attempt.
func TestOpenRetriesWithMetrics(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	b := &flakyBackend{Backend: f.backend}
	b.fails.Store(2)
	cfg := Config{Backend: b, Prefix: f.prefix, Registerer: reg}
	for i := range 2 {
		if _, err := Open(context.Background(), cfg); err == nil {
			t.Fatalf("Open %d succeeded with Chainfire failing", i)
		}
	}
	if _, err := Open(context.Background(), cfg); err != nil {
		t.Fatalf("Open once Chainfire answers: %v", err)
	}
}

// TestBackendFailsOver: with a dead Chainfire endpoint listed first, PD
// moves on to the next one.
func TestBackendFailsOver(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	b, err := NewChainfireBackend([]string{dead, sharedCF.Endpoint}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), Config{Backend: b, Prefix: f.prefix})
	if err != nil {
		t.Fatalf("Open with the first endpoint dead: %v", err)
	}
	if _, err := c.AllocIDs(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := NewChainfireBackend([]string{" ", ""}, time.Second); err == nil {
		t.Fatal("a backend without endpoints was accepted")
	}
}
