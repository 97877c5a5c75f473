package etcdapi

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/member"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// Cluster serves etcdserverpb.Cluster: membership changes run on the
// leader (a follower forwards them there), listing runs anywhere.
type Cluster struct {
	etcdserverpbconnect.UnimplementedClusterHandler
	m *member.Member
}

func (s *Cluster) MemberList(ctx context.Context, req *connect.Request[pb.MemberListRequest]) (*connect.Response[pb.MemberListResponse], error) {
	if req.Msg.GetLinearizable() {
		if err := s.m.ReadBarrier(ctx); err != nil {
			return nil, toConnect(err)
		}
	}
	members, err := s.m.MemberList()
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&pb.MemberListResponse{Header: s.m.Header(s.m.Store().Rev()), Members: members}), nil
}

func (s *Cluster) MemberAdd(ctx context.Context, req *connect.Request[pb.MemberAddRequest]) (*connect.Response[pb.MemberAddResponse], error) {
	return onLeader(ctx, s, func(ctx context.Context) (*pb.MemberAddResponse, error) {
		added, err := s.m.AddMember(ctx, req.Msg.GetPeerURLs(), req.Msg.GetIsLearner())
		if err != nil {
			return nil, err
		}
		members, err := s.m.MemberList()
		if err != nil {
			return nil, err
		}
		return &pb.MemberAddResponse{Header: s.header(), Member: added, Members: members}, nil
	}, func(ctx context.Context, cli etcdserverpbconnect.ClusterClient) (*pb.MemberAddResponse, error) {
		resp, err := cli.MemberAdd(ctx, connect.NewRequest(req.Msg))
		return msgOf(resp, err)
	})
}

func (s *Cluster) MemberRemove(ctx context.Context, req *connect.Request[pb.MemberRemoveRequest]) (*connect.Response[pb.MemberRemoveResponse], error) {
	return onLeader(ctx, s, func(ctx context.Context) (*pb.MemberRemoveResponse, error) {
		if err := s.m.RemoveMember(ctx, req.Msg.GetID()); err != nil {
			return nil, err
		}
		members, err := s.m.MemberList()
		return &pb.MemberRemoveResponse{Header: s.header(), Members: members}, err
	}, func(ctx context.Context, cli etcdserverpbconnect.ClusterClient) (*pb.MemberRemoveResponse, error) {
		resp, err := cli.MemberRemove(ctx, connect.NewRequest(req.Msg))
		return msgOf(resp, err)
	})
}

func (s *Cluster) MemberUpdate(ctx context.Context, req *connect.Request[pb.MemberUpdateRequest]) (*connect.Response[pb.MemberUpdateResponse], error) {
	return onLeader(ctx, s, func(ctx context.Context) (*pb.MemberUpdateResponse, error) {
		if err := s.m.UpdateMember(ctx, req.Msg.GetID(), req.Msg.GetPeerURLs()); err != nil {
			return nil, err
		}
		members, err := s.m.MemberList()
		return &pb.MemberUpdateResponse{Header: s.header(), Members: members}, err
	}, func(ctx context.Context, cli etcdserverpbconnect.ClusterClient) (*pb.MemberUpdateResponse, error) {
		resp, err := cli.MemberUpdate(ctx, connect.NewRequest(req.Msg))
		return msgOf(resp, err)
	})
}

func (s *Cluster) MemberPromote(ctx context.Context, req *connect.Request[pb.MemberPromoteRequest]) (*connect.Response[pb.MemberPromoteResponse], error) {
	return onLeader(ctx, s, func(ctx context.Context) (*pb.MemberPromoteResponse, error) {
		if err := s.m.PromoteMember(ctx, req.Msg.GetID()); err != nil {
			return nil, err
		}
		members, err := s.m.MemberList()
		return &pb.MemberPromoteResponse{Header: s.header(), Members: members}, err
	}, func(ctx context.Context, cli etcdserverpbconnect.ClusterClient) (*pb.MemberPromoteResponse, error) {
		resp, err := cli.MemberPromote(ctx, connect.NewRequest(req.Msg))
		return msgOf(resp, err)
	})
}

// headered is a Cluster response whose header this member stamps.
type headered interface {
	GetHeader() *pb.ResponseHeader
}

// onLeader runs local, which answers member.ErrForward unless this member
// is the leader; then it forwards the request to the leader with remote,
// retrying while leadership moves.
func onLeader[T any, PT interface {
	*T
	headered
}](ctx context.Context, s *Cluster, local func(context.Context) (PT, error), remote func(context.Context, etcdserverpbconnect.ClusterClient) (PT, error)) (*connect.Response[T], error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	backoff := 10 * time.Millisecond
	for {
		out, err := local(ctx)
		if err == nil {
			return connect.NewResponse((*T)(out)), nil
		}
		if !errors.Is(err, member.ErrForward) {
			return nil, toConnect(err)
		}
		if url, ok := s.m.LeaderURL(); ok {
			cli := etcdserverpbconnect.NewClusterClient(s.m.HTTPClient(), url, connect.WithGRPC())
			out, err := remote(ctx, cli)
			if err == nil {
				s.m.StampHeader(out.GetHeader())
				return connect.NewResponse((*T)(out)), nil
			}
			var cerr *connect.Error
			if !errors.As(err, &cerr) || (cerr.Code() != connect.CodeUnavailable && cerr.Message() != etcderr.NotLeader.Msg) {
				return nil, toConnect(err)
			}
		}
		select {
		case <-ctx.Done():
			if !s.m.HasLeader() {
				return nil, etcderr.NoLeader.Connect()
			}
			return nil, etcderr.Timeout.Connect()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

func (s *Cluster) header() *pb.ResponseHeader { return s.m.Header(s.m.Store().Rev()) }

func msgOf[T any](resp *connect.Response[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}
