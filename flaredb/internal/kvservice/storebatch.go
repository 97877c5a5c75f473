package kvservice

import (
	"bytes"
	"context"
	"sync"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// StoreBatch serves many single-region requests in one call. Sub-requests
// are grouped by region (id, epoch and peer they were routed with) and
// kind: a region's reads share one read barrier and one consistent view,
// its plain writes (puts and deletes) one Raft proposal, in sub-request
// order; a compare-and-swap is always its own proposal. Groups run
// concurrently, and each sub-request is answered with what its group
// returned, region errors included, so one region's failure never fails
// another's sub-requests.
func (s *KV) StoreBatch(ctx context.Context, req *connect.Request[flaredbv1.StoreBatchRequest]) (*connect.Response[flaredbv1.StoreBatchResponse], error) {
	subs := req.Msg.GetRequests()
	if err := validStoreBatch(subs); err != nil {
		return nil, rpcError(err)
	}
	out := make([]*flaredbv1.StoreBatchResponse_Sub, len(subs))
	groups := groupSubs(subs, out)
	if len(groups) == 1 {
		s.runGroup(ctx, subs, out, groups[0])
	} else {
		var wg sync.WaitGroup
		for _, g := range groups {
			wg.Go(func() { s.runGroup(ctx, subs, out, g) })
		}
		wg.Wait()
	}
	return connect.NewResponse(&flaredbv1.StoreBatchResponse{Responses: out}), nil
}

type subKind uint8

const (
	kindRead subKind = iota
	kindWrite
	kindCAS
)

// subGroup is the sub-requests (indexes) served by one read or proposal.
type subGroup struct {
	kind subKind
	rc   *flaredbv1.Context
	idx  []int
}

type groupKey struct {
	region, confVer, version, peer uint64
	kind                           subKind
}

// groupSubs answers invalid sub-requests in out at once and groups the
// rest, in order of first appearance.
func groupSubs(subs []*flaredbv1.StoreBatchRequest_Sub, out []*flaredbv1.StoreBatchResponse_Sub) []*subGroup {
	var groups []*subGroup
	byKey := make(map[groupKey]*subGroup)
	for i, sub := range subs {
		if err := validSub(sub); err != nil {
			out[i] = subError(sub.GetId(), rpcError(err))
			continue
		}
		kind, rc := classify(sub)
		if kind == kindCAS {
			groups = append(groups, &subGroup{kind: kind, rc: rc, idx: []int{i}})
			continue
		}
		k := groupKey{rc.GetRegionId(), rc.GetRegionEpoch().GetConfVer(), rc.GetRegionEpoch().GetVersion(), rc.GetPeer().GetId(), kind}
		g := byKey[k]
		if g == nil {
			g = &subGroup{kind: kind, rc: rc}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
	}
	return groups
}

func classify(sub *flaredbv1.StoreBatchRequest_Sub) (subKind, *flaredbv1.Context) {
	switch r := sub.GetRequest().(type) {
	case *flaredbv1.StoreBatchRequest_Sub_Get:
		return kindRead, r.Get.GetContext()
	case *flaredbv1.StoreBatchRequest_Sub_BatchGet:
		return kindRead, r.BatchGet.GetContext()
	case *flaredbv1.StoreBatchRequest_Sub_Put:
		return kindWrite, r.Put.GetContext()
	case *flaredbv1.StoreBatchRequest_Sub_BatchPut:
		return kindWrite, r.BatchPut.GetContext()
	case *flaredbv1.StoreBatchRequest_Sub_Delete:
		return kindWrite, r.Delete.GetContext()
	case *flaredbv1.StoreBatchRequest_Sub_BatchDelete:
		return kindWrite, r.BatchDelete.GetContext()
	}
	return kindCAS, sub.GetCompareAndSwap().GetContext()
}

func subError(id uint64, err error) *flaredbv1.StoreBatchResponse_Sub {
	return &flaredbv1.StoreBatchResponse_Sub{Id: id, Response: &flaredbv1.StoreBatchResponse_Sub_Error{
		Error: &flaredbv1.SubError{Code: uint32(connect.CodeOf(err)), Message: connectMessage(err)},
	}}
}

func connectMessage(err error) string {
	if ce, ok := err.(*connect.Error); ok {
		return ce.Message()
	}
	return err.Error()
}

func (s *KV) runGroup(ctx context.Context, subs []*flaredbv1.StoreBatchRequest_Sub, out []*flaredbv1.StoreBatchResponse_Sub, g *subGroup) {
	s.runMerged(ctx, subs, out, g)
	if len(g.idx) == 1 || !keyNotInRegion(out[g.idx[0]]) {
		return
	}
	// One sub-request named a key outside the region, which fails a merged
	// read or write as a whole: serve each on its own, so only that one
	// fails.
	for _, i := range g.idx {
		s.runMerged(ctx, subs, out, &subGroup{kind: g.kind, rc: g.rc, idx: []int{i}})
	}
}

// keyNotInRegion reports whether r carries a KeyNotInRegion error.
func keyNotInRegion(r *flaredbv1.StoreBatchResponse_Sub) bool {
	var re *flaredbv1.RegionError
	switch v := r.GetResponse().(type) {
	case *flaredbv1.StoreBatchResponse_Sub_Get:
		re = v.Get.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_BatchGet:
		re = v.BatchGet.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_Put:
		re = v.Put.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_BatchPut:
		re = v.BatchPut.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_Delete:
		re = v.Delete.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_BatchDelete:
		re = v.BatchDelete.GetRegionError()
	}
	return re.GetKeyNotInRegion() != nil
}

func (s *KV) runMerged(ctx context.Context, subs []*flaredbv1.StoreBatchRequest_Sub, out []*flaredbv1.StoreBatchResponse_Sub, g *subGroup) {
	switch g.kind {
	case kindRead:
		s.runReads(ctx, subs, out, g)
	case kindWrite:
		s.runWrites(ctx, subs, out, g)
	default:
		s.runCAS(ctx, subs, out, g)
	}
}

// readKeys is the keys a read sub-request asks for.
func readKeys(sub *flaredbv1.StoreBatchRequest_Sub) [][]byte {
	if g := sub.GetGet(); g != nil {
		return [][]byte{g.GetKey()}
	}
	return sub.GetBatchGet().GetKeys()
}

// runReads serves a region's gets and batch gets after one read barrier,
// from one consistent view.
func (s *KV) runReads(ctx context.Context, subs []*flaredbv1.StoreBatchRequest_Sub, out []*flaredbv1.StoreBatchResponse_Sub, g *subGroup) {
	var keys [][]byte
	for _, i := range g.idx {
		keys = append(keys, readKeys(subs[i])...)
	}
	var kvs []region.KV
	err := s.read(ctx, g.rc, keys, func(rep *region.Replica) error {
		if len(keys) == 1 {
			v, ok, err := rep.Get(ctx, g.rc, keys[0])
			if ok {
				kvs = []region.KV{{Key: keys[0], Value: v}}
			}
			return err
		}
		var err error
		kvs, err = rep.BatchGet(ctx, g.rc, keys)
		return err
	})
	re, err := outcome(err)
	// kvs holds the keys that exist, in the order of keys: walk both.
	next := func(k []byte) ([]byte, bool) {
		if len(kvs) > 0 && bytes.Equal(kvs[0].Key, k) {
			v := kvs[0].Value
			kvs = kvs[1:]
			return v, true
		}
		return nil, false
	}
	for _, i := range g.idx {
		sub := subs[i]
		if err != nil {
			out[i] = subError(sub.GetId(), err)
			continue
		}
		if get := sub.GetGet(); get != nil {
			r := &flaredbv1.GetResponse{RegionError: re}
			if re == nil {
				v, ok := next(get.GetKey())
				r.Value, r.NotFound = v, !ok
			}
			out[i] = &flaredbv1.StoreBatchResponse_Sub{Id: sub.GetId(), Response: &flaredbv1.StoreBatchResponse_Sub_Get{Get: r}}
			continue
		}
		r := &flaredbv1.BatchGetResponse{RegionError: re}
		if re == nil {
			for _, k := range sub.GetBatchGet().GetKeys() {
				if v, ok := next(k); ok {
					r.Pairs = append(r.Pairs, &flaredbv1.KvPair{Key: k, Value: v})
				}
			}
		}
		out[i] = &flaredbv1.StoreBatchResponse_Sub{Id: sub.GetId(), Response: &flaredbv1.StoreBatchResponse_Sub_BatchGet{BatchGet: r}}
	}
}

// writeCommand is the Raft command of a plain write sub-request and the
// keys it writes.
func writeCommand(sub *flaredbv1.StoreBatchRequest_Sub) (*flaredbv1.RaftCommand, [][]byte) {
	switch r := sub.GetRequest().(type) {
	case *flaredbv1.StoreBatchRequest_Sub_Put:
		return region.PutCommand(r.Put), [][]byte{r.Put.GetKey()}
	case *flaredbv1.StoreBatchRequest_Sub_BatchPut:
		keys := make([][]byte, len(r.BatchPut.GetPairs()))
		for i, p := range r.BatchPut.GetPairs() {
			keys[i] = p.GetKey()
		}
		return region.BatchPutCommand(r.BatchPut), keys
	case *flaredbv1.StoreBatchRequest_Sub_Delete:
		return region.DeleteCommand(r.Delete), [][]byte{r.Delete.GetKey()}
	}
	b := sub.GetBatchDelete()
	return region.BatchDeleteCommand(b), b.GetKeys()
}

// runWrites proposes a region's puts and deletes as one write batch, in
// sub-request order (a later write of a key wins, as inside one
// BatchPut), and answers each with the proposal's outcome.
func (s *KV) runWrites(ctx context.Context, subs []*flaredbv1.StoreBatchRequest_Sub, out []*flaredbv1.StoreBatchResponse_Sub, g *subGroup) {
	cmd, keys := writeCommand(subs[g.idx[0]])
	if len(g.idx) > 1 {
		wb := cmd.GetWrite()
		for _, i := range g.idx[1:] {
			c, k := writeCommand(subs[i])
			wb.Mutations = append(wb.Mutations, c.GetWrite().GetMutations()...)
			keys = append(keys, k...)
		}
	}
	_, re, err := s.write(ctx, g.rc, cmd, keys)
	for _, i := range g.idx {
		sub := subs[i]
		if err != nil {
			out[i] = subError(sub.GetId(), err)
			continue
		}
		r := &flaredbv1.StoreBatchResponse_Sub{Id: sub.GetId()}
		switch sub.GetRequest().(type) {
		case *flaredbv1.StoreBatchRequest_Sub_Put:
			r.Response = &flaredbv1.StoreBatchResponse_Sub_Put{Put: &flaredbv1.PutResponse{RegionError: re}}
		case *flaredbv1.StoreBatchRequest_Sub_BatchPut:
			r.Response = &flaredbv1.StoreBatchResponse_Sub_BatchPut{BatchPut: &flaredbv1.BatchPutResponse{RegionError: re}}
		case *flaredbv1.StoreBatchRequest_Sub_Delete:
			r.Response = &flaredbv1.StoreBatchResponse_Sub_Delete{Delete: &flaredbv1.DeleteResponse{RegionError: re}}
		default:
			r.Response = &flaredbv1.StoreBatchResponse_Sub_BatchDelete{BatchDelete: &flaredbv1.BatchDeleteResponse{RegionError: re}}
		}
		out[i] = r
	}
}

// runCAS serves one compare-and-swap as its own proposal, exactly as the
// CompareAndSwap RPC does.
func (s *KV) runCAS(ctx context.Context, subs []*flaredbv1.StoreBatchRequest_Sub, out []*flaredbv1.StoreBatchResponse_Sub, g *subGroup) {
	i := g.idx[0]
	r, err := s.compareAndSwap(ctx, subs[i].GetCompareAndSwap())
	if err != nil {
		out[i] = subError(subs[i].GetId(), err)
		return
	}
	out[i] = &flaredbv1.StoreBatchResponse_Sub{Id: subs[i].GetId(), Response: &flaredbv1.StoreBatchResponse_Sub_CompareAndSwap{CompareAndSwap: r}}
}
