package etcdapi

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/apply"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// rangeStreamChunk is how many key-values one RangeStream message carries,
// so a huge range never has to be held in memory or in one message.
const rangeStreamChunk = 1000

// RangeStream is Range with the result split over several messages, all
// read from one consistent view. Only the last message carries the header,
// count and more; custom sorting and revision filters are refused, as etcd
// refuses them, because they need the whole result before the first chunk.
func (s *KV) RangeStream(ctx context.Context, req *connect.Request[pb.RangeRequest], stream *connect.ServerStream[pb.RangeStreamResponse]) error {
	r := req.Msg
	if err := checkRange(r); err != nil {
		return toConnect(err)
	}
	if (r.GetSortOrder() != pb.RangeRequest_NONE && !(r.GetSortTarget() == pb.RangeRequest_KEY && r.GetSortOrder() == pb.RangeRequest_ASCEND)) ||
		r.GetSortTarget() != pb.RangeRequest_KEY ||
		r.GetMinModRevision() != 0 || r.GetMaxModRevision() != 0 || r.GetMinCreateRevision() != 0 || r.GetMaxCreateRevision() != 0 {
		return connect.NewError(connect.CodeUnimplemented, errors.New("etcdserver: range stream does not support sorting or revision filters"))
	}
	if !r.GetSerializable() {
		if err := s.m.ReadBarrier(ctx); err != nil {
			return toConnect(err)
		}
	}
	return toConnect(s.m.Store().Read(func(view *mvcc.ReadTxn) error {
		return s.streamRange(view, r, stream)
	}))
}

func (s *KV) streamRange(view *mvcc.ReadTxn, r *pb.RangeRequest, stream *connect.ServerStream[pb.RangeStreamResponse]) error {
	rev := r.GetRevision()
	if rev <= 0 {
		rev = view.Rev()
	}
	total, err := apply.Range(view, &pb.RangeRequest{Key: r.GetKey(), RangeEnd: r.GetRangeEnd(), Revision: rev, CountOnly: true})
	if err != nil {
		return err
	}
	last := &pb.RangeResponse{Header: total.GetHeader(), Count: total.GetCount()}
	s.m.StampHeader(last.Header)
	if r.GetCountOnly() {
		return stream.Send(&pb.RangeStreamResponse{RangeResponse: last})
	}
	key, sent := r.GetKey(), int64(0)
	for {
		page := int64(rangeStreamChunk)
		if r.GetLimit() > 0 {
			page = min(page, r.GetLimit()-sent)
		}
		resp, err := apply.Range(view, &pb.RangeRequest{Key: key, RangeEnd: r.GetRangeEnd(), Revision: rev, Limit: page, KeysOnly: r.GetKeysOnly()})
		if err != nil {
			return err
		}
		sent += int64(len(resp.GetKvs()))
		done := !resp.GetMore() || (r.GetLimit() > 0 && sent >= r.GetLimit())
		if done {
			last.Kvs = resp.GetKvs()
			last.More = resp.GetMore()
			return stream.Send(&pb.RangeStreamResponse{RangeResponse: last})
		}
		if err := stream.Send(&pb.RangeStreamResponse{RangeResponse: &pb.RangeResponse{Kvs: resp.GetKvs()}}); err != nil {
			return err
		}
		lastKey := resp.GetKvs()[len(resp.GetKvs())-1].GetKey()
		key = append(append([]byte(nil), lastKey...), 0)
		if len(r.GetRangeEnd()) == 0 {
			return nil // a single key never has a second page
		}
	}
}
