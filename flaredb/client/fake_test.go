package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// fakeCluster is a PD and a few stores in one process, served over HTTP
// with the generated connect handlers. It keeps one authoritative region
// list and one data map; each store answers like a real one: region
// errors when the request's region, epoch, leader or keys do not match.
type fakeCluster struct {
	t *testing.T

	mu       sync.Mutex
	regions  []*flaredbv1.Region                 // sorted by start key
	leaders  map[uint64]uint64                   // region id -> leader store id
	data     map[string][]byte                   // all keys
	inject   map[uint64][]*flaredbv1.RegionError // store id -> errors to answer next
	nextID   uint64
	pdRegion atomic.Int64   // GetRegion calls
	calls    map[uint64]int // store id -> KV calls
	batchLog [][]string     // keys of every batch request

	pdURL  string
	stores map[uint64]*httptest.Server
}

func newFakeCluster(t *testing.T, nStores int) *fakeCluster {
	f := &fakeCluster{
		t:       t,
		leaders: make(map[uint64]uint64),
		data:    make(map[string][]byte),
		inject:  make(map[uint64][]*flaredbv1.RegionError),
		calls:   make(map[uint64]int),
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
		_, h := flaredbv1connect.NewKVServiceHandler(&fakeStore{f: f, id: s})
		f.stores[s] = newH2CServer(t, h)
	}
	_, h := flaredbv1connect.NewPDServiceHandler(&fakePD{f: f})
	f.pdURL = newH2CServer(t, h).URL
	return f
}

// newH2CServer serves h over HTTP/1.1 and cleartext HTTP/2, as FlareDB's
// servers do.
func newH2CServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func (f *fakeCluster) client(opts ...Option) *Client {
	f.t.Helper()
	c, err := New([]string{f.pdURL}, append([]Option{WithBackoff(time.Millisecond, 20*time.Millisecond)}, opts...)...)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return c
}

// split cuts the region holding key right-derived, as a store does.
func (f *fakeCluster) split(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.indexLocked([]byte(key))
	parent := f.regions[i]
	if string(parent.GetStartKey()) == key {
		return
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
}

func (f *fakeCluster) setLeader(regionKey string, store uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaders[f.regions[f.indexLocked([]byte(regionKey))].GetId()] = store
}

func (f *fakeCluster) injectError(store uint64, re *flaredbv1.RegionError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject[store] = append(f.inject[store], re)
}

func (f *fakeCluster) storeCalls(store uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[store]
}

func (f *fakeCluster) indexLocked(key []byte) int {
	for i, r := range f.regions {
		if bytes.Compare(key, r.GetStartKey()) >= 0 && beforeEnd(key, r.GetEndKey()) {
			return i
		}
	}
	panic("no region")
}

func (f *fakeCluster) byIDLocked(id uint64) *flaredbv1.Region {
	for _, r := range f.regions {
		if r.GetId() == id {
			return r
		}
	}
	return nil
}

func (f *fakeCluster) leaderPeerLocked(r *flaredbv1.Region) *flaredbv1.Peer {
	return peerOnStore(r, f.leaders[r.GetId()])
}

// check validates a request on store the way a store does and returns
// the region error to answer, if any.
func (f *fakeCluster) check(store uint64, rc *flaredbv1.Context, keys ...[]byte) (*flaredbv1.Region, *flaredbv1.RegionError) {
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
		if !(bytes.Compare(k, r.GetStartKey()) >= 0 && beforeEnd(k, r.GetEndKey())) {
			f.t.Errorf("store %d: key %q routed to region %d [%q, %q)", store, k, r.GetId(), r.GetStartKey(), r.GetEndKey())
			return nil, &flaredbv1.RegionError{Error: &flaredbv1.RegionError_KeyNotInRegion{KeyNotInRegion: &flaredbv1.KeyNotInRegion{Key: k, RegionId: r.GetId()}}}
		}
	}
	return r, nil
}

type fakePD struct {
	flaredbv1connect.UnimplementedPDServiceHandler
	f *fakeCluster
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
	f  *fakeCluster
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

func (f *fakeCluster) logBatch(keys [][]byte) {
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
func (f *fakeCluster) clip(r *flaredbv1.Region, start, end []byte) ([]byte, []byte) {
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

func keyf(i int) []byte { return []byte(fmt.Sprintf("k%04d", i)) }

func keysOf(kvs []KV) string {
	var b strings.Builder
	for _, kv := range kvs {
		b.Write(kv.Key)
		b.WriteByte(' ')
	}
	return b.String()
}
