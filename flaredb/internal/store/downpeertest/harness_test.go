package downpeertest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/client"
	"github.com/photoncloud/core/flaredb/internal/kvservice"
	"github.com/photoncloud/core/flaredb/internal/pd/pdapptest"
	"github.com/photoncloud/core/flaredb/internal/pd/pdtest"
	"github.com/photoncloud/core/flaredb/internal/store"
	"github.com/photoncloud/core/pkg/servertest"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

func TestMain(m *testing.M) { os.Exit(pdtest.Main(m)) }

// startReplicated starts Chainfire, PD (down peers replaced after
// maxPeerDownTime) and three stores, waits until the first region has
// three replicas, and returns the cluster, a client of it, and a context
// that ends after within.
func startReplicated(t *testing.T, within time.Duration) (context.Context, *cluster, *client.Client) {
	t.Helper()
	cf := pdtest.StartChainfire(t)
	pdAddr := pdapptest.StartPD(t, cf.Endpoint, "--max-peer-down-time", maxPeerDownTime.String())
	c := newCluster(t, pdAddr, 3)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	waitFor(t, time.Minute, "first region on three stores", func() (bool, string) { return c.replicated(ctx, 3) })
	cl, err := client.New([]string{pdAddr}, client.WithRetryBudget(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return ctx, c, cl
}

// node is one store with its client-facing services, restartable on the
// same addresses and data directory.
type node struct {
	id                   uint64
	dir, raft, clientURL string
	logs                 *recordCounter
	st                   *store.Store
	srv                  *http.Server
}

// cluster is three (or more) in-process stores around a real PD.
type cluster struct {
	t       *testing.T
	pdAddr  string
	pd      flaredbv1connect.PDServiceClient
	raftLog *lineCounter

	mu    sync.Mutex
	nodes map[uint64]*node
	// gate, when set, can hold back a CreatePeer for a region on a store
	// (the test orders repairs with it).
	gate func(storeID, regionID uint64) error
	// peerGCAfter is the stores' PeerGCAfter; zero is an hour, so peer GC
	// stays out of tests that exercise other repairs.
	peerGCAfter time.Duration
}

// newCluster starts n stores; configure, if given, adjusts the cluster
// before the first starts.
func newCluster(t *testing.T, pdAddr string, n int, configure ...func(*cluster)) *cluster {
	c := &cluster{t: t, pdAddr: pdAddr, raftLog: &lineCounter{},
		pd:    flaredbv1connect.NewPDServiceClient(h2cClient(), "http://"+pdAddr),
		nodes: map[uint64]*node{}}
	for _, f := range configure {
		f(c)
	}
	for i := 1; i <= n; i++ {
		nd := &node{id: uint64(i), dir: t.TempDir(), raft: servertest.FreeAddr(t), clientURL: servertest.FreeAddr(t), logs: &recordCounter{}}
		c.nodes[nd.id] = nd
		c.start(nd)
	}
	t.Cleanup(func() {
		for i := 1; i <= n; i++ {
			c.stop(uint64(i))
		}
	})
	return c
}

func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func (c *cluster) node(id uint64) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// liveStore returns the running store id, or nil.
func (c *cluster) liveStore(id uint64) *store.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	if nd := c.nodes[id]; nd != nil {
		return nd.st
	}
	return nil
}

// start opens a node's store, joins it to the cluster the way the store
// binary does and serves its KV and admin services.
func (c *cluster) start(nd *node) {
	t := c.t
	st, err := store.Open(store.Config{
		StoreID: nd.id, DataDir: nd.dir, RaftAddr: nd.raft, ClientAddr: nd.clientURL,
		// Splits are made by the test only.
		SplitSize: 1 << 40, SplitKeys: 1 << 40, SplitCheckInterval: time.Hour,
		HeartbeatInterval: 500 * time.Millisecond, RegionHeartbeatInterval: 500 * time.Millisecond,
		ElectionTimeout: 500 * time.Millisecond, PeerGCAfter: cmp.Or(c.peerGCAfter, time.Hour),
		Logger: slog.New(nd.logs), RaftLogOutput: c.raftLog,
		CreatePeer: func(ctx context.Context, target *flaredbv1.Store, regionID, peerID uint64, leader *flaredbv1.Region) error {
			other := c.liveStore(target.GetId())
			if other == nil {
				return fmt.Errorf("store %d is down", target.GetId())
			}
			c.mu.Lock()
			gate := c.gate
			c.mu.Unlock()
			if gate != nil {
				if err := gate(target.GetId(), regionID); err != nil {
					return err
				}
			}
			// Through the target's AdminService, as the store binary does.
			admin := flaredbv1connect.NewAdminServiceClient(h2cClient(), "http://"+target.GetAddress())
			_, err := admin.CreatePeer(ctx, connect.NewRequest(&flaredbv1.CreatePeerRequest{RegionId: regionID, PeerId: peerID, Region: leader}))
			return err
		},
	}, store.NewPDClient(c.pd))
	if err != nil {
		t.Fatalf("open store %d: %v", nd.id, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.pd.Bootstrap(ctx, connect.NewRequest(&flaredbv1.BootstrapRequest{Store: st.StoreMeta()})); err != nil {
		t.Fatalf("store %d: bootstrap with PD: %v", nd.id, err)
	}
	if len(st.Peers()) == 0 {
		first, err := c.pd.GetRegion(ctx, connect.NewRequest(&flaredbv1.GetRegionRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		r := first.Msg.GetRegion()
		if r.GetEpoch().GetConfVer() == 1 && len(r.GetPeers()) == 1 && r.GetPeers()[0].GetStoreId() == nd.id {
			if err := st.Bootstrap(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	st.Run()
	ln, err := net.Listen("tcp", nd.clientURL)
	if err != nil {
		t.Fatalf("store %d: listen: %v", nd.id, err)
	}
	mux := http.NewServeMux()
	mux.Handle(flaredbv1connect.NewKVServiceHandler(kvservice.NewKV(st)))
	mux.Handle(flaredbv1connect.NewAdminServiceHandler(kvservice.NewAdmin(st)))
	srv := &http.Server{Handler: mux, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	c.mu.Lock()
	nd.st, nd.srv = st, srv
	c.mu.Unlock()
}

func (c *cluster) stop(id uint64) {
	c.mu.Lock()
	nd := c.nodes[id]
	st, srv := nd.st, nd.srv
	nd.st, nd.srv = nil, nil
	c.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	if st != nil {
		if err := st.Close(); err != nil {
			c.t.Logf("close store %d: %v", id, err)
		}
	}
}

// leaderOf returns a running store leading the region holding key.
func (c *cluster) leaderOf(key []byte) (*store.Store, *flaredbv1.Region) {
	for id := uint64(1); id <= uint64(len(c.nodes)); id++ {
		st := c.liveStore(id)
		if st == nil {
			continue
		}
		for _, p := range st.Peers() {
			r := p.Region()
			if r != nil && p.IsLeader() && contains(r, key) {
				return st, r
			}
		}
	}
	return nil, nil
}

func contains(r *flaredbv1.Region, key []byte) bool {
	return bytes.Compare(key, r.GetStartKey()) >= 0 && (len(r.GetEndKey()) == 0 || bytes.Compare(key, r.GetEndKey()) < 0)
}

// split cuts the region holding key at key through its leader, retrying
// while leadership settles.
func (c *cluster) split(key string) (child, parent *flaredbv1.Region) {
	c.t.Helper()
	var last error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, r := c.leaderOf([]byte(key))
		if st == nil {
			last = errors.New("no leader")
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if bytes.Equal(r.GetStartKey(), []byte(key)) {
			// An earlier attempt split it after all (its answer was lost).
			if child := c.regionEndingAt([]byte(key)); child != nil {
				return child, r
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		child, parent, err := st.Split(ctx, r.GetId(), []byte(key))
		cancel()
		if err == nil {
			return child, parent
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("split at %q: %v", key, last)
	return nil, nil
}

// regionEndingAt returns a running store's metadata of the region that
// ends at key, or nil.
func (c *cluster) regionEndingAt(key []byte) *flaredbv1.Region {
	for id := uint64(1); id <= uint64(len(c.nodes)); id++ {
		st := c.liveStore(id)
		if st == nil {
			continue
		}
		for _, p := range st.Peers() {
			if r := p.Region(); r != nil && bytes.Equal(r.GetEndKey(), key) {
				return r
			}
		}
	}
	return nil
}

// compact makes every region's leader snapshot and drop its log, so a
// follower behind can only catch up from a snapshot.
func (c *cluster) compact() {
	c.t.Helper()
	for id := uint64(1); id <= uint64(len(c.nodes)); id++ {
		st := c.liveStore(id)
		if st == nil {
			continue
		}
		for _, p := range st.Peers() {
			if !p.IsLeader() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := p.CompactLog(ctx)
			cancel()
			if err != nil {
				c.t.Fatalf("compact region %d on store %d: %v", p.Region().GetId(), id, err)
			}
		}
	}
}

func (c *cluster) regions(ctx context.Context) []*flaredbv1.RegionInfo {
	c.t.Helper()
	resp, err := c.pd.ScanRegions(ctx, connect.NewRequest(&flaredbv1.ScanRegionsRequest{}))
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.Msg.GetRegions()
}

// replicated reports whether every region PD knows has n voters on n
// distinct stores, none reported down, and each store runs that very peer
// with the region's current metadata (so it has its data); else why not.
func (c *cluster) replicated(ctx context.Context, n int) (bool, string) {
	for _, info := range c.regions(ctx) {
		r := info.GetRegion()
		if len(r.GetPeers()) != n {
			return false, fmt.Sprintf("region %d has %d peers", r.GetId(), len(r.GetPeers()))
		}
		if len(info.GetDownPeers()) > 0 {
			return false, fmt.Sprintf("region %d has down peers %v", r.GetId(), info.GetDownPeers())
		}
		seen := map[uint64]bool{}
		for _, peer := range r.GetPeers() {
			if seen[peer.GetStoreId()] {
				return false, fmt.Sprintf("region %d has two peers on store %d", r.GetId(), peer.GetStoreId())
			}
			seen[peer.GetStoreId()] = true
			st := c.liveStore(peer.GetStoreId())
			if st == nil {
				return false, fmt.Sprintf("store %d is down", peer.GetStoreId())
			}
			p := st.Peer(r.GetId())
			if p == nil || p.PeerID() != peer.GetId() {
				return false, fmt.Sprintf("store %d does not run peer %d of region %d", peer.GetStoreId(), peer.GetId(), r.GetId())
			}
			if got := p.Region(); got == nil || got.GetEpoch().GetVersion() != r.GetEpoch().GetVersion() {
				return false, fmt.Sprintf("store %d: region %d replica is %v, PD has %v", peer.GetStoreId(), r.GetId(), got.GetEpoch(), r.GetEpoch())
			}
		}
	}
	return true, ""
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var why string
	for time.Since(start) < within {
		var ok bool
		if ok, why = cond(); ok {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v (last: %s)", what, within, why)
	return 0
}

// recordCounter is a slog handler counting a store's records at info
// level and above (and keeping the last few).
type recordCounter struct {
	n    atomic.Int64
	mu   sync.Mutex
	last []string
}

func (h *recordCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *recordCounter) Handle(_ context.Context, r slog.Record) error {
	h.n.Add(1)
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	h.last = append(h.last, b.String())
	if len(h.last) > 5 {
		h.last = h.last[1:]
	}
	h.mu.Unlock()
	return nil
}

func (h *recordCounter) lastLines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.last...)
}

func (h *recordCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordCounter) WithGroup(string) slog.Handler      { return h }

// lineCounter counts the raft library's log lines (errors only).
type lineCounter struct {
	mu         sync.Mutex
	lines      int
	heartbeats int // "failed to heartbeat to"
}

func (w *lineCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines += bytes.Count(p, []byte("\n"))
	w.heartbeats += bytes.Count(p, []byte("failed to heartbeat to"))
	return len(p), nil
}

func (w *lineCounter) counts() (lines, heartbeats int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines, w.heartbeats
}
