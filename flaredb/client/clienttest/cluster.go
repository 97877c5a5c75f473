// Package clienttest is an in-memory FlareDB cluster for tests of code that
// uses the client: a PD and a few stores served over real HTTP/2 with the
// generated connect handlers, one authoritative region list and one data
// map. Stores answer like real ones (region errors when the request's
// region, epoch, leader or keys do not match), and tests can split regions,
// move leaders, stop stores and inject region errors.
package clienttest

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// Cluster is the fake cluster. Its methods are safe for concurrent use.
type Cluster struct {
	t testing.TB

	mu       sync.Mutex
	regions  []*flaredbv1.Region                 // sorted by start key
	leaders  map[uint64]uint64                   // region id -> leader store id
	data     map[string][]byte                   // every key
	inject   map[uint64][]*flaredbv1.RegionError // store id -> errors to answer next
	nextID   uint64
	calls    map[uint64]int // store id -> KV calls
	batchLog [][]string     // keys of every served batch request
	states   map[uint64]flaredbv1.StoreState

	noStoreBatch  map[uint64]bool // stores answering StoreBatch with Unimplemented
	storeBatchLog [][]uint64      // region ids of every StoreBatch's sub-requests

	pdRegion atomic.Int64 // GetRegion calls
	pdURL    string
	stores   map[uint64]*httptest.Server
}

// NewCluster starts a cluster of nStores stores with one region covering
// the key space, a peer on every store and its leader on store 1.
func NewCluster(t testing.TB, nStores int) *Cluster {
	f := &Cluster{
		t:       t,
		leaders: make(map[uint64]uint64),
		data:    make(map[string][]byte),
		inject:  make(map[uint64][]*flaredbv1.RegionError),
		calls:   make(map[uint64]int),
		states:  make(map[uint64]flaredbv1.StoreState),
		stores:  make(map[uint64]*httptest.Server),
		nextID:  100,
	}
	r := &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1}}
	for s := uint64(1); s <= uint64(nStores); s++ {
		r.Peers = append(r.Peers, &flaredbv1.Peer{Id: 10 + s, StoreId: s, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER})
	}
	f.regions = []*flaredbv1.Region{r}
	f.leaders[1] = 1
	for s := uint64(1); s <= uint64(nStores); s++ {
		mux := http.NewServeMux()
		mux.Handle(flaredbv1connect.NewKVServiceHandler(&fakeStore{f: f, id: s}))
		mux.Handle(flaredbv1connect.NewAdminServiceHandler(&fakeAdmin{f: f, id: s}))
		f.stores[s] = newH2CServer(t, mux)
	}
	mux := http.NewServeMux()
	mux.Handle(flaredbv1connect.NewPDServiceHandler(&fakePD{f: f}))
	f.pdURL = newH2CServer(t, mux).URL
	return f
}

// newH2CServer serves h over HTTP/1.1 and cleartext HTTP/2, as FlareDB's
// servers do.
func newH2CServer(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// PDURL is the PD's base URL.
func (f *Cluster) PDURL() string { return f.pdURL }

// Split cuts the region holding key at key, right-derived as a store does:
// the parent keeps [key, end), a new region takes [start, key), both with
// version+1, on the same stores, led from the same store.
func (f *Cluster) Split(key string) (left, right *flaredbv1.Region) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.splitLocked(key)
}

func (f *Cluster) splitLocked(key string) (left, right *flaredbv1.Region) {
	i := f.indexLocked([]byte(key))
	parent := f.regions[i]
	if string(parent.GetStartKey()) == key {
		return nil, proto.CloneOf(parent)
	}
	f.nextID++
	epoch := &flaredbv1.RegionEpoch{ConfVer: parent.GetEpoch().GetConfVer(), Version: parent.GetEpoch().GetVersion() + 1}
	child := &flaredbv1.Region{Id: f.nextID, StartKey: parent.GetStartKey(), EndKey: []byte(key), Epoch: epoch}
	for _, p := range parent.GetPeers() {
		f.nextID++
		child.Peers = append(child.Peers, &flaredbv1.Peer{Id: f.nextID, StoreId: p.GetStoreId(), Role: p.GetRole()})
	}
	np := proto.CloneOf(parent)
	np.StartKey = []byte(key)
	np.Epoch = proto.CloneOf(epoch)
	f.regions[i] = np
	f.regions = append(f.regions, child)
	sort.Slice(f.regions, func(a, b int) bool { return bytes.Compare(f.regions[a].GetStartKey(), f.regions[b].GetStartKey()) < 0 })
	f.leaders[child.GetId()] = f.leaders[parent.GetId()]
	return proto.CloneOf(child), proto.CloneOf(np)
}

// Regions returns the current regions in key order.
func (f *Cluster) Regions() []*flaredbv1.Region {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*flaredbv1.Region, len(f.regions))
	for i, r := range f.regions {
		out[i] = proto.CloneOf(r)
	}
	return out
}

// SetLeader moves the leadership of the region holding key to store.
func (f *Cluster) SetLeader(key string, store uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaders[f.regions[f.indexLocked([]byte(key))].GetId()] = store
}

// AddPeer adds a voter on store to the region holding key (conf_ver+1).
func (f *Cluster) AddPeer(key string, store uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.indexLocked([]byte(key))
	r := proto.CloneOf(f.regions[i])
	f.nextID++
	r.Peers = append(r.Peers, &flaredbv1.Peer{Id: f.nextID, StoreId: store, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER})
	r.Epoch.ConfVer++
	f.regions[i] = r
}

// RemovePeer removes the peer on store from the region holding key
// (conf_ver+1).
func (f *Cluster) RemovePeer(key string, store uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.indexLocked([]byte(key))
	r := proto.CloneOf(f.regions[i])
	var peers []*flaredbv1.Peer
	for _, p := range r.GetPeers() {
		if p.GetStoreId() != store {
			peers = append(peers, p)
		}
	}
	r.Peers = peers
	r.Epoch.ConfVer++
	f.regions[i] = r
}

// InjectError makes store answer its next KV request with re.
func (f *Cluster) InjectError(store uint64, re *flaredbv1.RegionError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject[store] = append(f.inject[store], re)
}

// StopStore closes a store's server (connections are refused).
func (f *Cluster) StopStore(store uint64) { f.stores[store].Close() }

// StoreCalls counts the KV requests store received.
func (f *Cluster) StoreCalls(store uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[store]
}

// PDRegionCalls counts GetRegion calls to PD.
func (f *Cluster) PDRegionCalls() int64 { return f.pdRegion.Load() }

// BatchRequests returns the keys of every batch request served so far.
func (f *Cluster) BatchRequests() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.batchLog...)
}

func (f *Cluster) indexLocked(key []byte) int {
	for i, r := range f.regions {
		if inRange(key, r) {
			return i
		}
	}
	panic("no region")
}

func (f *Cluster) byIDLocked(id uint64) *flaredbv1.Region {
	for _, r := range f.regions {
		if r.GetId() == id {
			return r
		}
	}
	return nil
}

func (f *Cluster) leaderPeerLocked(r *flaredbv1.Region) *flaredbv1.Peer {
	return peerOnStore(r, f.leaders[r.GetId()])
}

// check validates a request on store the way a store does and returns
// the region error to answer, if any.
func (f *Cluster) check(store uint64, rc *flaredbv1.Context, keys ...[]byte) (*flaredbv1.Region, *flaredbv1.RegionError) {
	f.calls[store]++
	if q := f.inject[store]; len(q) > 0 {
		f.inject[store] = q[1:]
		return nil, q[0]
	}
	r := f.byIDLocked(rc.GetRegionId())
	if r == nil || peerOnStore(r, store) == nil {
		return nil, &flaredbv1.RegionError{Error: &flaredbv1.RegionError_RegionNotFound{RegionNotFound: &flaredbv1.RegionNotFound{RegionId: rc.GetRegionId()}}}
	}
	if f.leaders[r.GetId()] != store {
		return nil, &flaredbv1.RegionError{Error: &flaredbv1.RegionError_NotLeader{NotLeader: &flaredbv1.NotLeader{RegionId: r.GetId(), Leader: f.leaderPeerLocked(r)}}}
	}
	if rc.GetRegionEpoch().GetVersion() != r.GetEpoch().GetVersion() {
		var cur []*flaredbv1.Region
		for _, o := range f.regions {
			cur = append(cur, proto.CloneOf(o))
		}
		return nil, &flaredbv1.RegionError{Error: &flaredbv1.RegionError_EpochNotMatch{EpochNotMatch: &flaredbv1.EpochNotMatch{CurrentRegions: cur}}}
	}
	for _, k := range keys {
		if !inRange(k, r) {
			f.t.Errorf("store %d: key %q routed to region %d [%q, %q)", store, k, r.GetId(), r.GetStartKey(), r.GetEndKey())
			return nil, &flaredbv1.RegionError{Error: &flaredbv1.RegionError_KeyNotInRegion{KeyNotInRegion: &flaredbv1.KeyNotInRegion{Key: k, RegionId: r.GetId()}}}
		}
	}
	return r, nil
}

type fakePD struct {
	flaredbv1connect.UnimplementedPDServiceHandler
	f *Cluster
}

func (p *fakePD) GetRegion(_ context.Context, req *connect.Request[flaredbv1.GetRegionRequest]) (*connect.Response[flaredbv1.GetRegionResponse], error) {
	f := p.f
	f.pdRegion.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	key := req.Msg.GetKey()
	var r *flaredbv1.Region
	if req.Msg.GetBefore() {
		for _, o := range f.regions {
			if len(key) == 0 && len(o.GetEndKey()) == 0 || len(key) > 0 && bytes.Compare(o.GetStartKey(), key) < 0 && (len(o.GetEndKey()) == 0 || bytes.Compare(key, o.GetEndKey()) <= 0) {
				r = o
			}
		}
	} else {
		r = f.regions[f.indexLocked(key)]
	}
	return connect.NewResponse(&flaredbv1.GetRegionResponse{Region: proto.CloneOf(r), Leader: proto.CloneOf(f.leaderPeerLocked(r))}), nil
}

func (p *fakePD) GetStore(_ context.Context, req *connect.Request[flaredbv1.GetStoreRequest]) (*connect.Response[flaredbv1.GetStoreResponse], error) {
	srv, ok := p.f.stores[req.Msg.GetStoreId()]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no store"))
	}
	return connect.NewResponse(&flaredbv1.GetStoreResponse{Store: &flaredbv1.Store{Id: req.Msg.GetStoreId(), Address: srv.URL}}), nil
}

type fakeStore struct {
	flaredbv1connect.UnimplementedKVServiceHandler
	f  *Cluster
	id uint64
}

func (s *fakeStore) Get(_ context.Context, req *connect.Request[flaredbv1.GetRequest]) (*connect.Response[flaredbv1.GetResponse], error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, re := f.check(s.id, req.Msg.GetContext(), req.Msg.GetKey()); re != nil {
		return connect.NewResponse(&flaredbv1.GetResponse{RegionError: re}), nil
	}
	v, ok := f.data[string(req.Msg.GetKey())]
	return connect.NewResponse(&flaredbv1.GetResponse{Value: v, NotFound: !ok}), nil
}

func (s *fakeStore) Put(_ context.Context, req *connect.Request[flaredbv1.PutRequest]) (*connect.Response[flaredbv1.PutResponse], error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, re := f.check(s.id, req.Msg.GetContext(), req.Msg.GetKey()); re != nil {
		return connect.NewResponse(&flaredbv1.PutResponse{RegionError: re}), nil
	}
	f.data[string(req.Msg.GetKey())] = req.Msg.GetValue()
	return connect.NewResponse(&flaredbv1.PutResponse{}), nil
}

func (s *fakeStore) BatchGet(_ context.Context, req *connect.Request[flaredbv1.BatchGetRequest]) (*connect.Response[flaredbv1.BatchGetResponse], error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, re := f.check(s.id, req.Msg.GetContext(), req.Msg.GetKeys()...); re != nil {
		return connect.NewResponse(&flaredbv1.BatchGetResponse{RegionError: re}), nil
	}
	f.logBatch(req.Msg.GetKeys())
	resp := &flaredbv1.BatchGetResponse{}
	for _, k := range req.Msg.GetKeys() {
		if v, ok := f.data[string(k)]; ok {
			resp.Pairs = append(resp.Pairs, &flaredbv1.KvPair{Key: k, Value: v})
		}
	}
	return connect.NewResponse(resp), nil
}

func (f *Cluster) logBatch(keys [][]byte) {
	var ks []string
	for _, k := range keys {
		ks = append(ks, string(k))
	}
	f.batchLog = append(f.batchLog, ks)
}

func (s *fakeStore) BatchPut(_ context.Context, req *connect.Request[flaredbv1.BatchPutRequest]) (*connect.Response[flaredbv1.BatchPutResponse], error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys [][]byte
	for _, p := range req.Msg.GetPairs() {
		keys = append(keys, p.GetKey())
	}
	if _, re := f.check(s.id, req.Msg.GetContext(), keys...); re != nil {
		return connect.NewResponse(&flaredbv1.BatchPutResponse{RegionError: re}), nil
	}
	f.logBatch(keys)
	for _, p := range req.Msg.GetPairs() {
		f.data[string(p.GetKey())] = p.GetValue()
	}
	return connect.NewResponse(&flaredbv1.BatchPutResponse{}), nil
}

func (s *fakeStore) BatchDelete(_ context.Context, req *connect.Request[flaredbv1.BatchDeleteRequest]) (*connect.Response[flaredbv1.BatchDeleteResponse], error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, re := f.check(s.id, req.Msg.GetContext(), req.Msg.GetKeys()...); re != nil {
		return connect.NewResponse(&flaredbv1.BatchDeleteResponse{RegionError: re}), nil
	}
	for _, k := range req.Msg.GetKeys() {
		delete(f.data, string(k))
	}
	return connect.NewResponse(&flaredbv1.BatchDeleteResponse{}), nil
}

// clip intersects [start, end) with r the way a store does, failing the
// test when the client asked for keys outside the region.
func (f *Cluster) clip(r *flaredbv1.Region, start, end []byte) ([]byte, []byte) {
	lo, hi := r.GetStartKey(), r.GetEndKey()
	if len(start) > 0 {
		if bytes.Compare(start, lo) < 0 {
			f.t.Errorf("range start %q below region %d start %q", start, r.GetId(), lo)
		}
		lo = start
	}
	if len(end) > 0 {
		if len(hi) > 0 && bytes.Compare(end, hi) > 0 {
			f.t.Errorf("range end %q above region %d end %q", end, r.GetId(), hi)
		}
		hi = end
	}
	return lo, hi
}

func (s *fakeStore) Scan(_ context.Context, req *connect.Request[flaredbv1.ScanRequest]) (*connect.Response[flaredbv1.ScanResponse], error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	r, re := f.check(s.id, req.Msg.GetContext())
	if re != nil {
		return connect.NewResponse(&flaredbv1.ScanResponse{RegionError: re}), nil
	}
	lo, hi := f.clip(r, req.Msg.GetStartKey(), req.Msg.GetEndKey())
	var keys []string
	for k := range f.data {
		if k >= string(lo) && (len(hi) == 0 || k < string(hi)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if req.Msg.GetReverse() {
		for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
			keys[i], keys[j] = keys[j], keys[i]
		}
	}
	resp := &flaredbv1.ScanResponse{}
	for _, k := range keys {
		if uint32(len(resp.Pairs)) == req.Msg.GetLimit() {
			break
		}
		p := &flaredbv1.KvPair{Key: []byte(k)}
		if !req.Msg.GetKeysOnly() {
			p.Value = f.data[k]
		}
		resp.Pairs = append(resp.Pairs, p)
	}
	return connect.NewResponse(resp), nil
}

func (s *fakeStore) DeleteRange(_ context.Context, req *connect.Request[flaredbv1.DeleteRangeRequest]) (*connect.Response[flaredbv1.DeleteRangeResponse], error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	r, re := f.check(s.id, req.Msg.GetContext())
	if re != nil {
		return connect.NewResponse(&flaredbv1.DeleteRangeResponse{RegionError: re}), nil
	}
	lo, hi := f.clip(r, req.Msg.GetStartKey(), req.Msg.GetEndKey())
	for k := range f.data {
		if k >= string(lo) && (len(hi) == 0 || k < string(hi)) {
			delete(f.data, k)
		}
	}
	return connect.NewResponse(&flaredbv1.DeleteRangeResponse{}), nil
}

func (s *fakeStore) CompareAndSwap(_ context.Context, req *connect.Request[flaredbv1.CompareAndSwapRequest]) (*connect.Response[flaredbv1.CompareAndSwapResponse], error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	m := req.Msg
	if _, re := f.check(s.id, m.GetContext(), m.GetKey()); re != nil {
		return connect.NewResponse(&flaredbv1.CompareAndSwapResponse{RegionError: re}), nil
	}
	cur, ok := f.data[string(m.GetKey())]
	resp := &flaredbv1.CompareAndSwapResponse{PreviousValue: cur, PreviousNotExists: !ok}
	if (m.GetPreviousNotExists() && !ok) || (!m.GetPreviousNotExists() && ok && bytes.Equal(cur, m.GetPreviousValue())) {
		f.data[string(m.GetKey())] = m.GetValue()
		resp.Succeeded = true
	}
	return connect.NewResponse(resp), nil
}

func inRange(key []byte, r *flaredbv1.Region) bool {
	return bytes.Compare(key, r.GetStartKey()) >= 0 && (len(r.GetEndKey()) == 0 || bytes.Compare(key, r.GetEndKey()) < 0)
}

func peerOnStore(r *flaredbv1.Region, store uint64) *flaredbv1.Peer {
	for _, p := range r.GetPeers() {
		if p.GetStoreId() == store {
			return p
		}
	}
	return nil
}

func (p *fakePD) GetRegionByID(_ context.Context, req *connect.Request[flaredbv1.GetRegionByIDRequest]) (*connect.Response[flaredbv1.GetRegionByIDResponse], error) {
	f := p.f
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.byIDLocked(req.Msg.GetRegionId())
	if r == nil {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such region"))
	}
	return connect.NewResponse(&flaredbv1.GetRegionByIDResponse{Region: proto.CloneOf(r), Leader: proto.CloneOf(f.leaderPeerLocked(r))}), nil
}

func (p *fakePD) ScanRegions(_ context.Context, req *connect.Request[flaredbv1.ScanRegionsRequest]) (*connect.Response[flaredbv1.ScanRegionsResponse], error) {
	f := p.f
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &flaredbv1.ScanRegionsResponse{}
	for _, r := range f.regions {
		if len(req.Msg.GetEndKey()) > 0 && bytes.Compare(r.GetStartKey(), req.Msg.GetEndKey()) >= 0 {
			break
		}
		if len(r.GetEndKey()) > 0 && bytes.Compare(r.GetEndKey(), req.Msg.GetStartKey()) <= 0 {
			continue
		}
		resp.Regions = append(resp.Regions, &flaredbv1.RegionInfo{Region: proto.CloneOf(r), Leader: proto.CloneOf(f.leaderPeerLocked(r))})
		if l := req.Msg.GetLimit(); l > 0 && uint32(len(resp.Regions)) >= l {
			break
		}
	}
	return connect.NewResponse(resp), nil
}

func (p *fakePD) GetAllStores(_ context.Context, _ *connect.Request[flaredbv1.GetAllStoresRequest]) (*connect.Response[flaredbv1.GetAllStoresResponse], error) {
	f := p.f
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &flaredbv1.GetAllStoresResponse{}
	for id := uint64(1); id <= uint64(len(f.stores)); id++ {
		st := &flaredbv1.Store{Id: id, Address: f.stores[id].URL, State: f.stateLocked(id)}
		status := &flaredbv1.StoreStatus{Store: st}
		for _, r := range f.regions {
			if peerOnStore(r, id) != nil {
				status.RegionCount++
			}
			if f.leaders[r.GetId()] == id {
				status.LeaderCount++
			}
		}
		resp.Stores = append(resp.Stores, st)
		resp.Statuses = append(resp.Statuses, status)
	}
	return connect.NewResponse(resp), nil
}

func (p *fakePD) GetClusterInfo(_ context.Context, _ *connect.Request[flaredbv1.GetClusterInfoRequest]) (*connect.Response[flaredbv1.GetClusterInfoResponse], error) {
	f := p.f
	f.mu.Lock()
	defer f.mu.Unlock()
	return connect.NewResponse(&flaredbv1.GetClusterInfoResponse{
		ClusterId: 42, Bootstrapped: true, MaxReplicas: 3,
		RegionCount: uint32(len(f.regions)), StoreCount: uint32(len(f.stores)),
	}), nil
}

// fakeAdmin is a store's admin service: regions hosted, manual split.
type fakeAdmin struct {
	flaredbv1connect.UnimplementedAdminServiceHandler
	f  *Cluster
	id uint64
}

func (a *fakeAdmin) ListRegions(_ context.Context, _ *connect.Request[flaredbv1.ListRegionsRequest]) (*connect.Response[flaredbv1.ListRegionsResponse], error) {
	f := a.f
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &flaredbv1.ListRegionsResponse{}
	for _, r := range f.regions {
		if peerOnStore(r, a.id) != nil {
			resp.Regions = append(resp.Regions, &flaredbv1.RegionStatus{
				Region: proto.CloneOf(r), PeerState: flaredbv1.PeerState_PEER_STATE_NORMAL, Leader: proto.CloneOf(f.leaderPeerLocked(r)),
			})
		}
	}
	return connect.NewResponse(resp), nil
}

func (a *fakeAdmin) RegionStatus(_ context.Context, req *connect.Request[flaredbv1.RegionStatusRequest]) (*connect.Response[flaredbv1.RegionStatusResponse], error) {
	f := a.f
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.byIDLocked(req.Msg.GetRegionId())
	if r == nil || peerOnStore(r, a.id) == nil {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("region not on this store"))
	}
	state := "Follower"
	if f.leaders[r.GetId()] == a.id {
		state = "Leader"
	}
	return connect.NewResponse(&flaredbv1.RegionStatusResponse{Status: &flaredbv1.RegionStatus{
		Region: proto.CloneOf(r), PeerState: flaredbv1.PeerState_PEER_STATE_NORMAL, RaftState: state,
		AppliedIndex: uint64(f.calls[a.id]) + 5, Leader: proto.CloneOf(f.leaderPeerLocked(r)),
	}}), nil
}

func (a *fakeAdmin) SplitRegion(_ context.Context, req *connect.Request[flaredbv1.SplitRegionRequest]) (*connect.Response[flaredbv1.SplitRegionResponse], error) {
	f := a.f
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.byIDLocked(req.Msg.GetRegionId())
	switch {
	case r == nil:
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such region"))
	case f.leaders[r.GetId()] != a.id:
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("not leader"))
	case !inRange(req.Msg.GetSplitKey(), r) || bytes.Equal(req.Msg.GetSplitKey(), r.GetStartKey()):
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("split key not inside the region"))
	}
	left, right := f.splitLocked(string(req.Msg.GetSplitKey()))
	return connect.NewResponse(&flaredbv1.SplitRegionResponse{Left: left, Right: right}), nil
}

func (f *Cluster) stateLocked(id uint64) flaredbv1.StoreState {
	if st, ok := f.states[id]; ok {
		return st
	}
	return flaredbv1.StoreState_STORE_STATE_UP
}

func (p *fakePD) SetStoreState(_ context.Context, req *connect.Request[flaredbv1.SetStoreStateRequest]) (*connect.Response[flaredbv1.SetStoreStateResponse], error) {
	f := p.f
	f.mu.Lock()
	defer f.mu.Unlock()
	id := req.Msg.GetStoreId()
	srv, ok := f.stores[id]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such store"))
	}
	f.states[id] = req.Msg.GetState()
	return connect.NewResponse(&flaredbv1.SetStoreStateResponse{Store: &flaredbv1.Store{Id: id, Address: srv.URL, State: f.stateLocked(id)}}), nil
}

// DisableStoreBatch makes store answer StoreBatch with Unimplemented, as a
// store from before the RPC existed does.
func (f *Cluster) DisableStoreBatch(store uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noStoreBatch == nil {
		f.noStoreBatch = make(map[uint64]bool)
	}
	f.noStoreBatch[store] = true
}

// StoreBatches returns, for every StoreBatch call served so far, the
// region ids of its sub-requests in order.
func (f *Cluster) StoreBatches() [][]uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]uint64(nil), f.storeBatchLog...)
}

// StoreBatch answers every sub-request as the single-region handler of
// its type does, in order.
func (s *fakeStore) StoreBatch(ctx context.Context, req *connect.Request[flaredbv1.StoreBatchRequest]) (*connect.Response[flaredbv1.StoreBatchResponse], error) {
	f := s.f
	f.mu.Lock()
	off := f.noStoreBatch[s.id]
	f.mu.Unlock()
	if off {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("StoreBatch is not implemented"))
	}
	resp := &flaredbv1.StoreBatchResponse{}
	var regions []uint64
	for _, sub := range req.Msg.GetRequests() {
		out := &flaredbv1.StoreBatchResponse_Sub{Id: sub.GetId()}
		var err error
		switch r := sub.GetRequest().(type) {
		case *flaredbv1.StoreBatchRequest_Sub_Get:
			regions = append(regions, r.Get.GetContext().GetRegionId())
			var m *connect.Response[flaredbv1.GetResponse]
			if m, err = s.Get(ctx, connect.NewRequest(r.Get)); err == nil {
				out.Response = &flaredbv1.StoreBatchResponse_Sub_Get{Get: m.Msg}
			}
		case *flaredbv1.StoreBatchRequest_Sub_BatchGet:
			regions = append(regions, r.BatchGet.GetContext().GetRegionId())
			var m *connect.Response[flaredbv1.BatchGetResponse]
			if m, err = s.BatchGet(ctx, connect.NewRequest(r.BatchGet)); err == nil {
				out.Response = &flaredbv1.StoreBatchResponse_Sub_BatchGet{BatchGet: m.Msg}
			}
		case *flaredbv1.StoreBatchRequest_Sub_Put:
			regions = append(regions, r.Put.GetContext().GetRegionId())
			var m *connect.Response[flaredbv1.PutResponse]
			if m, err = s.Put(ctx, connect.NewRequest(r.Put)); err == nil {
				out.Response = &flaredbv1.StoreBatchResponse_Sub_Put{Put: m.Msg}
			}
		case *flaredbv1.StoreBatchRequest_Sub_BatchPut:
			regions = append(regions, r.BatchPut.GetContext().GetRegionId())
			var m *connect.Response[flaredbv1.BatchPutResponse]
			if m, err = s.BatchPut(ctx, connect.NewRequest(r.BatchPut)); err == nil {
				out.Response = &flaredbv1.StoreBatchResponse_Sub_BatchPut{BatchPut: m.Msg}
			}
		default:
			err = connect.NewError(connect.CodeUnimplemented, errors.New("the fake store batches gets and puts only"))
		}
		if err != nil {
			out.Response = &flaredbv1.StoreBatchResponse_Sub_Error{Error: &flaredbv1.SubError{Code: uint32(connect.CodeOf(err)), Message: err.Error()}}
		}
		resp.Responses = append(resp.Responses, out)
	}
	f.mu.Lock()
	f.storeBatchLog = append(f.storeBatchLog, regions)
	f.mu.Unlock()
	return connect.NewResponse(resp), nil
}
