package etcdapi

import (
	"context"
	"errors"
	"io"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/lease"
	"github.com/photoncloud/core/chainfire/internal/member"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// Lease serves etcdserverpb.Lease.
type Lease struct {
	etcdserverpbconnect.UnimplementedLeaseHandler
	m *member.Member
}

func (s *Lease) LeaseGrant(ctx context.Context, req *connect.Request[pb.LeaseGrantRequest]) (*connect.Response[pb.LeaseGrantResponse], error) {
	if req.Msg.GetTTL() > lease.MaxTTL {
		return nil, etcderr.LeaseTTLTooLarge.Connect()
	}
	resp, err := s.m.LeaseGrant(ctx, req.Msg)
	if err != nil {
		return nil, toConnect(err)
	}
	s.m.StampHeader(resp.Header)
	return connect.NewResponse(resp), nil
}

func (s *Lease) LeaseRevoke(ctx context.Context, req *connect.Request[pb.LeaseRevokeRequest]) (*connect.Response[pb.LeaseRevokeResponse], error) {
	resp, err := s.m.LeaseRevoke(ctx, req.Msg.GetID())
	if err != nil {
		return nil, toConnect(err)
	}
	s.m.StampHeader(resp.Header)
	return connect.NewResponse(resp), nil
}

// LeaseKeepAlive renews each lease named on the stream and answers with
// its TTL, 0 for a lease that does not exist (etcd's answer, which clientv3
// turns into ErrLeaseNotFound). Requests are handled in order by this one
// goroutine, which is also the stream's only sender.
func (s *Lease) LeaseKeepAlive(ctx context.Context, stream *connect.BidiStream[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]) error {
	for {
		req, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		ttl, err := s.m.LeaseRenew(ctx, req.GetID())
		if err != nil && !errors.Is(err, etcderr.LeaseNotFound) {
			return toConnect(err)
		}
		resp := &pb.LeaseKeepAliveResponse{Header: s.m.Header(s.m.Store().Rev()), ID: req.GetID(), TTL: ttl}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func (s *Lease) LeaseTimeToLive(ctx context.Context, req *connect.Request[pb.LeaseTimeToLiveRequest]) (*connect.Response[pb.LeaseTimeToLiveResponse], error) {
	resp, err := s.m.LeaseTimeToLive(ctx, req.Msg)
	if err != nil {
		return nil, toConnect(err)
	}
	s.m.StampHeader(resp.Header)
	return connect.NewResponse(resp), nil
}

// LeaseLeases lists the leases as of a linearizable read point.
func (s *Lease) LeaseLeases(ctx context.Context, _ *connect.Request[pb.LeaseLeasesRequest]) (*connect.Response[pb.LeaseLeasesResponse], error) {
	if err := s.m.ReadBarrier(ctx); err != nil {
		return nil, toConnect(err)
	}
	ids := s.m.Leases().IDs()
	resp := &pb.LeaseLeasesResponse{Header: s.m.Header(s.m.Store().Rev()), Leases: make([]*pb.LeaseStatus, len(ids))}
	for i, id := range ids {
		resp.Leases[i] = &pb.LeaseStatus{ID: id}
	}
	return connect.NewResponse(resp), nil
}
