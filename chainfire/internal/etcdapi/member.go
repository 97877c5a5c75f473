package etcdapi

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/member"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

var errUnexpectedResponse = errors.New("etcdapi: unexpected response type from apply")

// memberService serves chainfire.v1.MemberService: the leader's side of
// forwarded proposals and read indexes.
type memberService struct{ m *member.Member }

func (s memberService) Propose(ctx context.Context, req *connect.Request[chainfirev1.ProposeRequest]) (*connect.Response[chainfirev1.ProposeResponse], error) {
	out, err := s.m.ProposeOnLeader(ctx, req.Msg.GetCommand())
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &chainfirev1.ProposeResponse{}
	switch r := out.(type) {
	case *pb.PutResponse:
		resp.Response = &chainfirev1.ProposeResponse_Put{Put: r}
	case *pb.DeleteRangeResponse:
		resp.Response = &chainfirev1.ProposeResponse_DeleteRange{DeleteRange: r}
	case *pb.TxnResponse:
		resp.Response = &chainfirev1.ProposeResponse_Txn{Txn: r}
	case *pb.CompactionResponse:
		resp.Response = &chainfirev1.ProposeResponse_Compaction{Compaction: r}
	}
	return connect.NewResponse(resp), nil
}

func (s memberService) ReadIndex(ctx context.Context, _ *connect.Request[chainfirev1.ReadIndexRequest]) (*connect.Response[chainfirev1.ReadIndexResponse], error) {
	index, err := s.m.LeaderReadIndex(ctx)
	if err != nil {
		if member.IsRetry(err) {
			return nil, etcderr.NotLeader.Connect()
		}
		return nil, toConnect(err)
	}
	return connect.NewResponse(&chainfirev1.ReadIndexResponse{Index: index}), nil
}
