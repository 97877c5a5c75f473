package etcdapi

import (
	"context"
	"sync/atomic"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/member"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// learnerGuard refuses on a learner what etcd's learners refuse: every
// call except Status, serializable Range and Snapshot. clientv3 reacts to
// the error by trying another endpoint.
type learnerGuard struct {
	m     *member.Member
	state *learnerState
}

// learnerState remembers that the member is a voter. Reading the Raft
// configuration on every call (a clone of it, and a future) was ~9% of a
// leader's CPU under keepalive load. A voter never becomes a learner again
// (etcd has no demotion, and a removed member stops), so once seen as a
// voter the answer holds; a learner is checked on every call, so a
// promotion takes effect at once.
type learnerState struct {
	voter atomic.Bool
}

func newLearnerGuard(m *member.Member) learnerGuard {
	return learnerGuard{m: m, state: &learnerState{}}
}

// isLearner is m.IsLearner, without the configuration read once the member
// is known to be a voter.
func (g learnerGuard) isLearner() bool {
	if g.state.voter.Load() {
		return false
	}
	if g.m.IsVoter() {
		g.state.voter.Store(true)
		return false
	}
	return g.m.IsLearner()
}

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
		if !learnerAllows(req.Any()) && g.isLearner() {
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
		if conn.Spec().Procedure != etcdserverpbconnect.MaintenanceSnapshotProcedure && g.isLearner() {
			return etcderr.LearnerNotSupported.Connect()
		}
		return next(ctx, conn)
	}
}
