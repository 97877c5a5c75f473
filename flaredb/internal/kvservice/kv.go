package kvservice

import (
	"context"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/internal/region"
	"github.com/photoncloud/core/flaredb/internal/store"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
	"github.com/photoncloud/core/proto/flaredb/v1/flaredbv1connect"
)

// KV implements flaredbv1connect.KVServiceHandler on a store.
type KV struct {
	st *store.Store
}

var _ flaredbv1connect.KVServiceHandler = (*KV)(nil)

// NewKV returns the KV service of st.
func NewKV(st *store.Store) *KV { return &KV{st: st} }

func (s *KV) Get(ctx context.Context, req *connect.Request[flaredbv1.GetRequest]) (*connect.Response[flaredbv1.GetResponse], error) {
	m := req.Msg
	if err := firstErr(validContext(m.GetContext()), validKey(m.GetKey())); err != nil {
		return nil, rpcError(err)
	}
	resp := &flaredbv1.GetResponse{}
	err := s.read(ctx, m.GetContext(), [][]byte{m.GetKey()}, func(rep *region.Replica) error {
		v, ok, err := rep.Get(ctx, m.GetContext(), m.GetKey())
		resp.Value, resp.NotFound = v, !ok
		return err
	})
	if resp.RegionError, err = outcome(err); err != nil {
		return nil, err
	}
	return connect.NewResponse(resp), nil
}

func (s *KV) BatchGet(ctx context.Context, req *connect.Request[flaredbv1.BatchGetRequest]) (*connect.Response[flaredbv1.BatchGetResponse], error) {
	m := req.Msg
	if err := firstErr(validContext(m.GetContext()), validKeys(m.GetKeys())); err != nil {
		return nil, rpcError(err)
	}
	resp := &flaredbv1.BatchGetResponse{}
	err := s.read(ctx, m.GetContext(), m.GetKeys(), func(rep *region.Replica) error {
		kvs, err := rep.BatchGet(ctx, m.GetContext(), m.GetKeys())
		resp.Pairs = pairs(kvs)
		return err
	})
	if resp.RegionError, err = outcome(err); err != nil {
		return nil, err
	}
	return connect.NewResponse(resp), nil
}

func (s *KV) Scan(ctx context.Context, req *connect.Request[flaredbv1.ScanRequest]) (*connect.Response[flaredbv1.ScanResponse], error) {
	m := req.Msg
	if err := firstErr(validContext(m.GetContext()), validRange(m.GetStartKey(), m.GetEndKey())); err != nil {
		return nil, rpcError(err)
	}
	resp := &flaredbv1.ScanResponse{}
	err := s.read(ctx, m.GetContext(), nil, func(rep *region.Replica) error {
		kvs, err := rep.Scan(ctx, m.GetContext(), region.ScanOptions{
			Start: m.GetStartKey(), End: m.GetEndKey(), Limit: int(m.GetLimit()),
			Reverse: m.GetReverse(), KeysOnly: m.GetKeysOnly(),
		})
		resp.Pairs = pairs(kvs)
		return err
	})
	if resp.RegionError, err = outcome(err); err != nil {
		return nil, err
	}
	return connect.NewResponse(resp), nil
}

// read runs fn on the region's replica once a linearizable read is
// possible; region errors from fn are enriched like the store's own.
func (s *KV) read(ctx context.Context, rc *flaredbv1.Context, keys [][]byte, fn func(*region.Replica) error) error {
	rep, err := s.st.ReadReplica(ctx, rc, keys...)
	if err != nil {
		return err
	}
	return s.st.Enrich(fn(rep), keys)
}

func pairs(kvs []region.KV) []*flaredbv1.KvPair {
	out := make([]*flaredbv1.KvPair, len(kvs))
	for i, kv := range kvs {
		out[i] = &flaredbv1.KvPair{Key: kv.Key, Value: kv.Value}
	}
	return out
}

func (s *KV) write(ctx context.Context, rc *flaredbv1.Context, cmd *flaredbv1.RaftCommand, keys [][]byte) (region.Result, *flaredbv1.RegionError, error) {
	res, err := s.st.Propose(ctx, rc, cmd, keys...)
	re, err := outcome(err)
	return res, re, err
}

func (s *KV) Put(ctx context.Context, req *connect.Request[flaredbv1.PutRequest]) (*connect.Response[flaredbv1.PutResponse], error) {
	m := req.Msg
	if err := firstErr(validContext(m.GetContext()), validKey(m.GetKey()), validValue(m.GetValue())); err != nil {
		return nil, rpcError(err)
	}
	_, re, err := s.write(ctx, m.GetContext(), region.PutCommand(m), [][]byte{m.GetKey()})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flaredbv1.PutResponse{RegionError: re}), nil
}

func (s *KV) BatchPut(ctx context.Context, req *connect.Request[flaredbv1.BatchPutRequest]) (*connect.Response[flaredbv1.BatchPutResponse], error) {
	m := req.Msg
	if err := firstErr(validContext(m.GetContext()), validPairs(m.GetPairs())); err != nil {
		return nil, rpcError(err)
	}
	keys := make([][]byte, len(m.GetPairs()))
	for i, p := range m.GetPairs() {
		keys[i] = p.GetKey()
	}
	_, re, err := s.write(ctx, m.GetContext(), region.BatchPutCommand(m), keys)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flaredbv1.BatchPutResponse{RegionError: re}), nil
}

func (s *KV) Delete(ctx context.Context, req *connect.Request[flaredbv1.DeleteRequest]) (*connect.Response[flaredbv1.DeleteResponse], error) {
	m := req.Msg
	if err := firstErr(validContext(m.GetContext()), validKey(m.GetKey())); err != nil {
		return nil, rpcError(err)
	}
	_, re, err := s.write(ctx, m.GetContext(), region.DeleteCommand(m), [][]byte{m.GetKey()})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flaredbv1.DeleteResponse{RegionError: re}), nil
}

func (s *KV) BatchDelete(ctx context.Context, req *connect.Request[flaredbv1.BatchDeleteRequest]) (*connect.Response[flaredbv1.BatchDeleteResponse], error) {
	m := req.Msg
	if err := firstErr(validContext(m.GetContext()), validKeys(m.GetKeys())); err != nil {
		return nil, rpcError(err)
	}
	_, re, err := s.write(ctx, m.GetContext(), region.BatchDeleteCommand(m), m.GetKeys())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flaredbv1.BatchDeleteResponse{RegionError: re}), nil
}

func (s *KV) DeleteRange(ctx context.Context, req *connect.Request[flaredbv1.DeleteRangeRequest]) (*connect.Response[flaredbv1.DeleteRangeResponse], error) {
	m := req.Msg
	if err := firstErr(validContext(m.GetContext()), validRange(m.GetStartKey(), m.GetEndKey())); err != nil {
		return nil, rpcError(err)
	}
	_, re, err := s.write(ctx, m.GetContext(), region.DeleteRangeCommand(m), nil)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&flaredbv1.DeleteRangeResponse{RegionError: re}), nil
}

func (s *KV) CompareAndSwap(ctx context.Context, req *connect.Request[flaredbv1.CompareAndSwapRequest]) (*connect.Response[flaredbv1.CompareAndSwapResponse], error) {
	m := req.Msg
	if err := firstErr(validContext(m.GetContext()), validKey(m.GetKey()), validValue(m.GetValue()), validValue(m.GetPreviousValue())); err != nil {
		return nil, rpcError(err)
	}
	resp, err := s.compareAndSwap(ctx, m)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(resp), nil
}

// compareAndSwap proposes one validated compare-and-swap on its own and
// returns its answer (the CompareAndSwap RPC and StoreBatch share it).
func (s *KV) compareAndSwap(ctx context.Context, m *flaredbv1.CompareAndSwapRequest) (*flaredbv1.CompareAndSwapResponse, error) {
	res, re, err := s.write(ctx, m.GetContext(), region.CompareAndSwapCommand(m), [][]byte{m.GetKey()})
	if err != nil {
		return nil, err
	}
	resp := &flaredbv1.CompareAndSwapResponse{RegionError: re}
	if c := res.CAS; c != nil && re == nil {
		resp.Succeeded, resp.PreviousValue, resp.PreviousNotExists = c.Succeeded, c.PreviousValue, c.PreviousNotExists
	}
	return resp, nil
}
