package kvservice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/flaredb/internal/store"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// fakePD is the part of PD a store talks to.
type fakePD struct {
	mu      sync.Mutex
	nextID  uint64
	stores  map[uint64]*flaredbv1.Store
	splits  []*flaredbv1.ReportSplitRequest
	regions map[uint64]*flaredbv1.Region
	ops     map[uint64]*flaredbv1.ChangePeerOperator // region id -> next instruction
	beats   map[uint64]int                           // region id -> heartbeats received
}

func newFakePD() *fakePD {
	return &fakePD{nextID: 1000, stores: map[uint64]*flaredbv1.Store{}, regions: map[uint64]*flaredbv1.Region{},
		ops: map[uint64]*flaredbv1.ChangePeerOperator{}}
}

func (f *fakePD) AllocID(context.Context, *flaredbv1.AllocIDRequest) (*flaredbv1.AllocIDResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	return &flaredbv1.AllocIDResponse{Id: f.nextID}, nil
}

func (f *fakePD) GetStore(_ context.Context, req *flaredbv1.GetStoreRequest) (*flaredbv1.GetStoreResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.stores[req.GetStoreId()]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("store %d", req.GetStoreId()))
	}
	return &flaredbv1.GetStoreResponse{Store: proto.CloneOf(st)}, nil
}

func (f *fakePD) StoreHeartbeat(_ context.Context, req *flaredbv1.StoreHeartbeatRequest) (*flaredbv1.StoreHeartbeatResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stores[req.GetStore().GetId()] = proto.CloneOf(req.GetStore())
	return &flaredbv1.StoreHeartbeatResponse{}, nil
}

func (f *fakePD) GetRegionByID(_ context.Context, req *flaredbv1.GetRegionByIDRequest) (*flaredbv1.GetRegionByIDResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &flaredbv1.GetRegionByIDResponse{Region: f.regions[req.GetRegionId()]}, nil
}

func (f *fakePD) RegionHeartbeat(_ context.Context, req *flaredbv1.RegionHeartbeatRequest) (*flaredbv1.RegionHeartbeatResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := req.GetRegion()
	if f.beats == nil {
		f.beats = map[uint64]int{}
	}
	f.beats[r.GetId()]++
	if old, ok := f.regions[r.GetId()]; !ok || old.GetEpoch().GetVersion() <= r.GetEpoch().GetVersion() {
		f.regions[r.GetId()] = proto.CloneOf(r)
	}
	op := f.ops[r.GetId()]
	for _, p := range r.GetPeers() {
		if op != nil && p.GetId() == op.GetPeer().GetId() {
			delete(f.ops, r.GetId()) // done
			op = nil
		}
	}
	return &flaredbv1.RegionHeartbeatResponse{ChangePeer: op}, nil
}

func (f *fakePD) AskSplit(_ context.Context, req *flaredbv1.AskSplitRequest) (*flaredbv1.AskSplitResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &flaredbv1.AskSplitResponse{}
	f.nextID++
	resp.NewRegionId = f.nextID
	for range req.GetRegion().GetPeers() {
		f.nextID++
		resp.NewPeerIds = append(resp.NewPeerIds, f.nextID)
	}
	return resp, nil
}

func (f *fakePD) ReportSplit(_ context.Context, req *flaredbv1.ReportSplitRequest) (*flaredbv1.ReportSplitResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.splits = append(f.splits, proto.CloneOf(req))
	return &flaredbv1.ReportSplitResponse{}, nil
}

func (f *fakePD) register(st *flaredbv1.Store) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stores[st.GetId()] = proto.CloneOf(st)
}

// node is one store of a test cluster with its services.
type node struct {
	id    uint64
	dir   string
	raft  string
	st    *store.Store
	kv    *KV
	admin *Admin
}

type cluster struct {
	t     testing.TB
	pd    *fakePD
	cfg   store.Config
	mu    sync.Mutex
	nodes map[uint64]*node
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newCluster opens n stores; with bootstrap, region 1 (the whole key
// space) gets one peer on each of them.
func newCluster(t testing.TB, n int, cfg store.Config, bootstrap bool) *cluster {
	c := &cluster{t: t, pd: newFakePD(), cfg: cfg, nodes: map[uint64]*node{}}
	for i := 1; i <= n; i++ {
		nd := &node{id: uint64(i), dir: t.TempDir(), raft: freeAddr(t)}
		c.pd.register(&flaredbv1.Store{Id: nd.id, RaftAddress: nd.raft})
		c.nodes[nd.id] = nd
	}
	for _, nd := range c.nodes {
		c.start(nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.list() {
			c.stop(nd.id)
		}
	})
	if bootstrap {
		meta := &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1}}
		for i := 1; i <= n; i++ {
			meta.Peers = append(meta.Peers, &flaredbv1.Peer{Id: uint64(100 + i), StoreId: uint64(i), Role: flaredbv1.PeerRole_PEER_ROLE_VOTER})
		}
		for _, nd := range c.list() {
			if err := nd.st.Bootstrap(context.Background(), meta); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

func (c *cluster) start(nd *node) {
	cfg := c.cfg
	cfg.StoreID, cfg.DataDir, cfg.RaftAddr = nd.id, nd.dir, nd.raft
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = 500 * time.Millisecond
	}
	cfg.RaftLogOutput = testWriter{}
	cfg.CreatePeer = func(ctx context.Context, target *flaredbv1.Store, regionID, peerID uint64, leader *flaredbv1.Region) error {
		c.mu.Lock()
		other := c.nodes[target.GetId()]
		c.mu.Unlock()
		if other == nil || other.st == nil {
			return errors.New("target store down")
		}
		return other.st.CreatePeer(ctx, regionID, peerID, leader)
	}
	st, err := store.Open(cfg, c.pd)
	if err != nil {
		c.t.Fatalf("open store %d: %v", nd.id, err)
	}
	st.Run()
	c.mu.Lock()
	nd.st, nd.kv, nd.admin = st, NewKV(st), NewAdmin(st)
	c.mu.Unlock()
}

func (c *cluster) stop(id uint64) {
	c.mu.Lock()
	nd := c.nodes[id]
	st := nd.st
	nd.st = nil
	c.mu.Unlock()
	if st != nil {
		if err := st.Close(); err != nil {
			c.t.Logf("close store %d: %v", id, err)
		}
	}
}

func (c *cluster) list() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node
	for i := uint64(1); i <= uint64(len(c.nodes)); i++ {
		out = append(out, c.nodes[i])
	}
	return out
}

type testWriter struct{}

func (testWriter) Write(p []byte) (int, error) { return len(p), nil }

// leaderFor finds a store leading the region that holds key.
func (c *cluster) leaderFor(key []byte) (*node, *flaredbv1.Region) {
	for _, nd := range c.list() {
		c.mu.Lock()
		st := nd.st
		c.mu.Unlock()
		if st == nil {
			continue
		}
		for _, p := range st.Peers() {
			r := p.Region()
			if r == nil || !p.IsLeader() {
				continue
			}
			if bytes.Compare(key, r.GetStartKey()) >= 0 && (len(r.GetEndKey()) == 0 || bytes.Compare(key, r.GetEndKey()) < 0) {
				return nd, r
			}
		}
	}
	return nil, nil
}

func rctx(r *flaredbv1.Region) *flaredbv1.Context {
	return &flaredbv1.Context{RegionId: r.GetId(), RegionEpoch: proto.CloneOf(r.GetEpoch())}
}

// errRetry marks a region error or transient failure: route again.
var errRetry = errors.New("retry")

// do routes one call for key to its region's leader, retrying on region
// errors, until it succeeds or the deadline passes.
func (c *cluster) do(key []byte, call func(kv *KV, rc *flaredbv1.Context) error) error {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		nd, r := c.leaderFor(key)
		if nd == nil {
			last = errors.New("no leader")
			time.Sleep(20 * time.Millisecond)
			continue
		}
		c.mu.Lock()
		kv := nd.kv
		c.mu.Unlock()
		err := call(kv, rctx(r))
		if err == nil {
			return nil
		}
		var ce *connect.Error
		if !errors.Is(err, errRetry) && errors.As(err, &ce) && ce.Code() != connect.CodeUnavailable {
			return err
		}
		last = err
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("gave up: %w", last)
}

func (c *cluster) put(key, val []byte) error {
	return c.do(key, func(kv *KV, rc *flaredbv1.Context) error {
		resp, err := kv.Put(context.Background(), connect.NewRequest(&flaredbv1.PutRequest{Context: rc, Key: key, Value: val}))
		if err != nil {
			return err
		}
		if re := resp.Msg.GetRegionError(); re != nil {
			return fmt.Errorf("%w: %s", errRetry, re.GetMessage())
		}
		return nil
	})
}

func (c *cluster) get(key []byte) (val []byte, found bool, err error) {
	err = c.do(key, func(kv *KV, rc *flaredbv1.Context) error {
		resp, err := kv.Get(context.Background(), connect.NewRequest(&flaredbv1.GetRequest{Context: rc, Key: key}))
		if err != nil {
			return err
		}
		if re := resp.Msg.GetRegionError(); re != nil {
			return fmt.Errorf("%w: %s", errRetry, re.GetMessage())
		}
		val, found = resp.Msg.GetValue(), !resp.Msg.GetNotFound()
		return nil
	})
	return val, found, err
}

func (c *cluster) mustGet(t testing.TB, key, want []byte) {
	t.Helper()
	got, found, err := c.get(key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	if !found || !bytes.Equal(got, want) {
		t.Fatalf("get %q = %q (found %v), want %q", key, got, found, want)
	}
}

// waitFor polls cond with a generous bound.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func key(i int) []byte { return []byte(fmt.Sprintf("key-%06d", i)) }
func val(i int) []byte { return []byte(fmt.Sprintf("value-%d", i)) }

var _ = atomic.Int64{}
