package etcdapi

import (
	"context"
	"errors"
	"sync"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/member"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
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
	return connect.NewResponse(member.WrapResponse(out)), nil
}

// ProposeBatch proposes every command concurrently, so they share the
// leader's next log append, and answers each with its own result.
func (s memberService) ProposeBatch(ctx context.Context, req *connect.Request[chainfirev1.ProposeBatchRequest]) (*connect.Response[chainfirev1.ProposeBatchResponse], error) {
	cmds := req.Msg.GetCommands()
	results := make([]*chainfirev1.ProposeResult, len(cmds))
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := s.m.ProposeOnLeader(ctx, cmd)
			if err != nil {
				cerr := toConnect(err).(*connect.Error)
				results[i] = &chainfirev1.ProposeResult{ErrorCode: uint32(cerr.Code()), ErrorMessage: cerr.Message()}
				return
			}
			results[i] = &chainfirev1.ProposeResult{Response: member.WrapResponse(out)}
		}()
	}
	wg.Wait()
	return connect.NewResponse(&chainfirev1.ProposeBatchResponse{Results: results}), nil
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

// LeaseRenew is the leader's side of a keepalive a follower forwards. A
// lease that does not exist answers TTL 0.
func (s memberService) LeaseRenew(ctx context.Context, req *connect.Request[chainfirev1.LeaseRenewRequest]) (*connect.Response[chainfirev1.LeaseRenewResponse], error) {
	ttl, err := s.m.LeaseRenewOnLeader(ctx, req.Msg.GetId())
	switch {
	case err == nil, errors.Is(err, etcderr.LeaseNotFound):
		return connect.NewResponse(&chainfirev1.LeaseRenewResponse{Ttl: ttl}), nil
	case member.IsRetry(err):
		return nil, etcderr.NotLeader.Connect()
	}
	return nil, toConnect(err)
}

// LeaseRenewBatch is the leader's side of the keepalives a follower
// forwards together: one TTL per id, 0 for a lease that does not exist.
func (s memberService) LeaseRenewBatch(ctx context.Context, req *connect.Request[chainfirev1.LeaseRenewBatchRequest]) (*connect.Response[chainfirev1.LeaseRenewBatchResponse], error) {
	ttls, err := s.m.LeaseRenewBatchOnLeader(ctx, req.Msg.GetIds())
	switch {
	case err == nil:
		return connect.NewResponse(&chainfirev1.LeaseRenewBatchResponse{Ttls: ttls}), nil
	case member.IsRetry(err):
		return nil, etcderr.NotLeader.Connect()
	}
	return nil, toConnect(err)
}

// LeaseTimeToLive is the leader's side of a forwarded LeaseTimeToLive.
func (s memberService) LeaseTimeToLive(ctx context.Context, req *connect.Request[chainfirev1.LeaseTimeToLiveRequest]) (*connect.Response[chainfirev1.LeaseTimeToLiveResponse], error) {
	resp, err := s.m.LeaseTimeToLiveOnLeader(ctx, req.Msg.GetRequest())
	switch {
	case err == nil:
		return connect.NewResponse(&chainfirev1.LeaseTimeToLiveResponse{Response: resp}), nil
	case member.IsRetry(err):
		return nil, etcderr.NotLeader.Connect()
	}
	return nil, toConnect(err)
}
