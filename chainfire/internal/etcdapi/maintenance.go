package etcdapi

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/member"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// APIVersion is the etcd API version Chainfire implements; clients gate
// features on the version Status reports.
const APIVersion = "3.7.0"

// Maintenance serves etcdserverpb.Maintenance.
type Maintenance struct {
	etcdserverpbconnect.UnimplementedMaintenanceHandler
	m     *member.Member
	quota int64
}

func (s *Maintenance) Status(ctx context.Context, _ *connect.Request[pb.StatusRequest]) (*connect.Response[pb.StatusResponse], error) {
	store := s.m.Store()
	size, err := store.Size()
	if err != nil {
		return nil, toConnect(err)
	}
	inUse, err := store.SizeInUse()
	if err != nil {
		return nil, toConnect(err)
	}
	node := s.m.Node()
	resp := &pb.StatusResponse{
		Header:           s.m.Header(store.Rev()),
		Version:          APIVersion,
		DbSize:           size,
		DbSizeInUse:      inUse,
		DbSizeQuota:      s.quota,
		Leader:           s.m.LeaderID(),
		RaftIndex:        node.CommitIndex(),
		RaftTerm:         store.AppliedTerm(),
		RaftAppliedIndex: s.m.AppliedIndex(),
		StorageVersion:   APIVersion,
	}
	if !s.m.HasLeader() {
		resp.Errors = append(resp.Errors, "etcdserver: no leader")
	}
	return connect.NewResponse(resp), nil
}

// Alarm answers GET with the cluster's active alarms. Raising and clearing
// alarms (NOSPACE, CORRUPT) arrive with the maintenance work; until then no
// alarm is ever active, and quota is enforced per request.
func (s *Maintenance) Alarm(ctx context.Context, req *connect.Request[pb.AlarmRequest]) (*connect.Response[pb.AlarmResponse], error) {
	if req.Msg.GetAction() != pb.AlarmRequest_GET {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("alarm activation and deactivation are not implemented yet"))
	}
	return connect.NewResponse(&pb.AlarmResponse{Header: s.m.Header(s.m.Store().Rev())}), nil
}
