package member

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/apply"
	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/raftnode"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

func raftAddress(hostPort string) raft.ServerAddress { return raft.ServerAddress(hostPort) }

// Propose replicates cmd through the leader (forwarding when this member
// is a follower) and returns the etcd response it produced when applied.
func (m *Member) Propose(ctx context.Context, cmd *chainfirev1.RaftCommand) (proto.Message, error) {
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	if m.cfg.MaxRequestBytes > 0 && len(data) > m.cfg.MaxRequestBytes {
		return nil, etcderr.RequestTooLarge
	}
	if err := m.checkQuota(cmd); err != nil {
		return nil, err
	}
	ctx, cancel := m.withRequestTimeout(ctx)
	defer cancel()
	m.metrics.proposalsPending.Inc()
	defer m.metrics.proposalsPending.Dec()
	resp, err := m.proposeWithRetry(ctx, cmd, data)
	if err != nil && !isStateMachineError(err) {
		m.metrics.proposalsFailed.Inc()
	}
	return resp, err
}

// isStateMachineError tells a request the state machine refused (a
// client error such as a compacted revision) from a failed proposal.
func isStateMachineError(err error) bool {
	var e *etcderr.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e {
	case etcderr.NoLeader, etcderr.LeaderChanged, etcderr.Timeout, etcderr.Stopped, etcderr.NotLeader:
		return false
	}
	return true
}

func (m *Member) proposeWithRetry(ctx context.Context, cmd *chainfirev1.RaftCommand, data []byte) (proto.Message, error) {
	backoff := 5 * time.Millisecond
	for {
		var resp proto.Message
		var err error
		if m.node.IsLeader() {
			resp, err = m.proposeLocal(ctx, data)
		} else {
			resp, err = m.forwarder.submit(ctx, cmd)
		}
		if !errors.Is(err, errRetry) {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, m.timeoutError(ctx)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// errRetry marks a proposal that certainly did not reach the log.
var errRetry = errors.New("member: retry proposal")

var errBatchMismatch = errors.New("member: leader answered a batch with the wrong number of results")

// ProposeOnLeader is the leader's side of a forwarded proposal.
func (m *Member) ProposeOnLeader(ctx context.Context, cmd *chainfirev1.RaftCommand) (proto.Message, error) {
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	ctx, cancel := m.withRequestTimeout(ctx)
	defer cancel()
	resp, err := m.proposeLocal(ctx, data)
	if errors.Is(err, errRetry) {
		return nil, etcderr.NotLeader
	}
	return resp, err
}

func (m *Member) proposeLocal(ctx context.Context, data []byte) (proto.Message, error) {
	out, err := m.node.Propose(ctx, data)
	switch {
	case err == nil:
	case errors.Is(err, raftnode.ErrNotLeader):
		return nil, errRetry
	case errors.Is(err, raftnode.ErrLeadershipLost):
		return nil, etcderr.LeaderChanged
	case errors.Is(err, raftnode.ErrStopped):
		return nil, etcderr.Stopped
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return nil, m.timeoutError(ctx)
	default:
		return nil, err
	}
	res, ok := out.(*apply.Result)
	if !ok || res == nil {
		return nil, errors.New("member: proposal produced no result")
	}
	return res.Response, res.Err
}

// forwardError turns the leader's answer back into an etcd error, and
// marks the cases where the proposal certainly did not reach the log.
func forwardError(ctx context.Context, err error) error {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return err
	}
	if cerr.Message() == etcderr.NotLeader.Msg || isDialError(cerr) {
		return errRetry
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &etcderr.Error{Code: cerr.Code(), Msg: cerr.Message()}
}

func (m *Member) withRequestTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, m.cfg.RequestTimeout)
}

func (m *Member) timeoutError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return connect.NewError(connect.CodeCanceled, ctx.Err())
	}
	if !m.HasLeader() {
		return etcderr.NoLeader
	}
	return etcderr.Timeout
}

// checkQuota refuses writes once the backend has grown past
// --quota-backend-bytes; deletes and compaction still pass so space can be
// reclaimed. Alarms are not checked here but where entries apply (see
// apply.Members), since this member's view of them may lag the log.
func (m *Member) checkQuota(cmd *chainfirev1.RaftCommand) error {
	if m.cfg.QuotaBackendBytes <= 0 {
		return nil
	}
	switch c := cmd.GetCommand().(type) {
	case *chainfirev1.RaftCommand_Put, *chainfirev1.RaftCommand_LeaseGrant:
	case *chainfirev1.RaftCommand_Txn:
		if !apply.TxnAddsData(c.Txn) {
			return nil
		}
	default:
		return nil
	}
	size, err := m.store.Size()
	if err != nil {
		return err
	}
	if cost := int64(proto.Size(cmd)); size+cost > m.cfg.QuotaBackendBytes {
		m.raiseAlarm(pb.AlarmType_NOSPACE, &m.maint.raisingNoSpace, func() bool {
			size, err := m.store.Size()
			return err == nil && size+cost > m.cfg.QuotaBackendBytes
		})
		return etcderr.NoSpace
	}
	return nil
}

// IsRetry reports whether err means "not handled here, try the leader".
func IsRetry(err error) bool { return errors.Is(err, errRetry) }
