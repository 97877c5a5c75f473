package etcdapi

import (
	"context"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/member"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// learnerGuard refuses on a learner what etcd's learners refuse: every
// call except Status, serializable Range and Snapshot. clientv3 reacts to
// the error by trying another endpoint.
type learnerGuard struct{ m *member.Member }

func learnerAllows(req any) bool {
	switch r := req.(type) {
	case *pb.StatusRequest:
		return true
	case *pb.RangeRequest:
		return r.GetSerializable()
	}
	return false
}

func (g learnerGuard) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !learnerAllows(req.Any()) && g.m.IsLearner() {
			return nil, etcderr.LearnerNotSupported.Connect()
		}
		return next(ctx, req)
	}
}

func (g learnerGuard) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (g learnerGuard) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if conn.Spec().Procedure != etcdserverpbconnect.MaintenanceSnapshotProcedure && g.m.IsLearner() {
			return etcderr.LearnerNotSupported.Connect()
		}
		return next(ctx, conn)
	}
}
