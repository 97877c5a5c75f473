package etcdapi

import (
	"context"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/apply"
	"github.com/photoncloud/core/chainfire/internal/member"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// DefaultMaxTxnOps is etcd's default --max-txn-ops.
const DefaultMaxTxnOps = 128

// KV serves etcdserverpb.KV.
type KV struct {
	etcdserverpbconnect.UnimplementedKVHandler
	m         *member.Member
	maxTxnOps int
}

func (s *KV) Range(ctx context.Context, req *connect.Request[pb.RangeRequest]) (*connect.Response[pb.RangeResponse], error) {
	r := req.Msg
	if err := checkRange(r); err != nil {
		return nil, toConnect(err)
	}
	if !r.GetSerializable() {
		if err := s.m.ReadBarrier(ctx); err != nil {
			return nil, toConnect(err)
		}
	}
	resp, err := apply.Range(s.m.Store(), r)
	if err != nil {
		return nil, toConnect(err)
	}
	s.m.StampHeader(resp.Header)
	return connect.NewResponse(resp), nil
}

func (s *KV) Put(ctx context.Context, req *connect.Request[pb.PutRequest]) (*connect.Response[pb.PutResponse], error) {
	if err := checkPut(req.Msg); err != nil {
		return nil, toConnect(err)
	}
	return propose[pb.PutResponse](ctx, s.m, &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Put{Put: req.Msg}})
}

func (s *KV) DeleteRange(ctx context.Context, req *connect.Request[pb.DeleteRangeRequest]) (*connect.Response[pb.DeleteRangeResponse], error) {
	if err := checkDelete(req.Msg); err != nil {
		return nil, toConnect(err)
	}
	return propose[pb.DeleteRangeResponse](ctx, s.m, &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_DeleteRange{DeleteRange: req.Msg}})
}

func (s *KV) Txn(ctx context.Context, req *connect.Request[pb.TxnRequest]) (*connect.Response[pb.TxnResponse], error) {
	r := req.Msg
	if err := checkTxn(r, s.maxTxnOps); err != nil {
		return nil, toConnect(err)
	}
	if apply.IsReadOnly(r) {
		return s.readOnlyTxn(ctx, r)
	}
	return propose[pb.TxnResponse](ctx, s.m, &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Txn{Txn: r}})
}

// readOnlyTxn serves a txn without writes from one consistent read view,
// like etcd, after a read barrier unless every read is serializable.
func (s *KV) readOnlyTxn(ctx context.Context, r *pb.TxnRequest) (*connect.Response[pb.TxnResponse], error) {
	if !apply.IsSerializable(r) {
		if err := s.m.ReadBarrier(ctx); err != nil {
			return nil, toConnect(err)
		}
	}
	var resp *pb.TxnResponse
	err := s.m.Store().Read(func(view *mvcc.ReadTxn) error {
		var err error
		resp, err = apply.ReadOnlyTxn(view, view.Rev(), s.m.Store().CompactRev(), r)
		return err
	})
	if err != nil {
		return nil, toConnect(err)
	}
	s.m.StampHeader(resp.Header)
	return connect.NewResponse(resp), nil
}

func (s *KV) Compact(ctx context.Context, req *connect.Request[pb.CompactionRequest]) (*connect.Response[pb.CompactionResponse], error) {
	resp, err := propose[pb.CompactionResponse](ctx, s.m, &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_Compaction{Compaction: req.Msg}})
	if err != nil {
		return nil, err
	}
	if req.Msg.GetPhysical() {
		if err := s.m.Store().WaitCompaction(ctx, req.Msg.GetRevision()); err != nil {
			return nil, toConnect(err)
		}
	}
	return resp, nil
}

// propose replicates cmd and returns its typed response with this member's
// header fields.
func propose[T any, PT interface {
	*T
	GetHeader() *pb.ResponseHeader
}](ctx context.Context, m *member.Member, cmd *chainfirev1.RaftCommand) (*connect.Response[T], error) {
	out, err := m.Propose(ctx, cmd)
	if err != nil {
		return nil, toConnect(err)
	}
	resp, ok := any(out).(PT)
	if !ok {
		return nil, toConnect(errUnexpectedResponse)
	}
	// Only the top-level header gets the member's fields: etcd fills the
	// header of the response it returns, and the responses inside a txn
	// carry only the revision the apply step set (none for nested txns).
	m.StampHeader(resp.GetHeader())
	return connect.NewResponse((*T)(resp)), nil
}
