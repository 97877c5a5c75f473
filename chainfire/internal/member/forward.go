package member

import (
	"context"
	"errors"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/coalesce"
	"github.com/photoncloud/core/chainfire/internal/etcderr"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// forwardWorkers is how many batches a follower keeps in flight to the
// leader; a new batch forms while earlier ones commit.
const forwardWorkers = 2

// maxForwardBatch bounds the commands in one forwarded batch.
const maxForwardBatch = 512

// forwarder funnels a follower's writes to the leader in batches: each
// worker takes everything queued, sends it as one ProposeBatch, and hands
// each caller its own result. Under load the batch grows by itself, so
// forwarding costs one round trip per batch rather than per request.
type forwarder struct {
	m     *Member
	batch *coalesce.Batcher[*chainfirev1.RaftCommand, proto.Message]
}

func newForwarder(m *Member) *forwarder {
	f := &forwarder{m: m}
	f.batch = coalesce.NewBatcher(maxForwardBatch, f.send)
	return f
}

func (f *forwarder) run(ctx context.Context, wg *sync.WaitGroup) {
	f.batch.Run(ctx, forwardWorkers, wg)
}

// submit forwards cmd with the next batch and waits for its result.
func (f *forwarder) submit(ctx context.Context, cmd *chainfirev1.RaftCommand) (proto.Message, error) {
	resp, err := f.batch.Submit(ctx, cmd)
	if errors.Is(err, coalesce.ErrNotSent) {
		return nil, errRetry // never sent: safe to report as not proposed
	}
	return resp, err
}

func (f *forwarder) send(ctx context.Context, cmds []*chainfirev1.RaftCommand) []coalesce.Result[proto.Message] {
	out := make([]coalesce.Result[proto.Message], len(cmds))
	client, ok := f.m.leaderClient()
	if !ok {
		for i := range out {
			out[i].Err = errRetry
		}
		return out
	}
	req := &chainfirev1.ProposeBatchRequest{Commands: cmds}
	ctx, cancel := context.WithTimeout(ctx, f.m.cfg.RequestTimeout)
	defer cancel()
	resp, err := client.member.ProposeBatch(ctx, connect.NewRequest(req))
	if err == nil && len(resp.Msg.GetResults()) != len(cmds) {
		err = connect.NewError(connect.CodeInternal, errBatchMismatch)
	}
	for i := range out {
		if err != nil {
			out[i].Err = forwardError(ctx, err)
			continue
		}
		out[i] = resultOf(resp.Msg.GetResults()[i])
	}
	return out
}

func resultOf(res *chainfirev1.ProposeResult) coalesce.Result[proto.Message] {
	if res.GetErrorCode() != 0 {
		if res.GetErrorMessage() == etcderr.NotLeader.Msg {
			return coalesce.Result[proto.Message]{Err: errRetry}
		}
		return coalesce.Result[proto.Message]{Err: &etcderr.Error{Code: connect.Code(res.GetErrorCode()), Msg: res.GetErrorMessage()}}
	}
	return coalesce.Result[proto.Message]{Value: UnwrapResponse(res.GetResponse())}
}

// UnwrapResponse returns the etcd response inside a ProposeResponse.
func UnwrapResponse(r *chainfirev1.ProposeResponse) proto.Message {
	switch v := r.GetResponse().(type) {
	case *chainfirev1.ProposeResponse_Put:
		return v.Put
	case *chainfirev1.ProposeResponse_DeleteRange:
		return v.DeleteRange
	case *chainfirev1.ProposeResponse_Txn:
		return v.Txn
	case *chainfirev1.ProposeResponse_Compaction:
		return v.Compaction
	case *chainfirev1.ProposeResponse_LeaseGrant:
		return v.LeaseGrant
	case *chainfirev1.ProposeResponse_LeaseRevoke:
		return v.LeaseRevoke
	}
	return nil
}

// WrapResponse puts an etcd response into a ProposeResponse.
func WrapResponse(msg proto.Message) *chainfirev1.ProposeResponse {
	resp := &chainfirev1.ProposeResponse{}
	switch r := msg.(type) {
	case *pb.PutResponse:
		resp.Response = &chainfirev1.ProposeResponse_Put{Put: r}
	case *pb.DeleteRangeResponse:
		resp.Response = &chainfirev1.ProposeResponse_DeleteRange{DeleteRange: r}
	case *pb.TxnResponse:
		resp.Response = &chainfirev1.ProposeResponse_Txn{Txn: r}
	case *pb.CompactionResponse:
		resp.Response = &chainfirev1.ProposeResponse_Compaction{Compaction: r}
	case *pb.LeaseGrantResponse:
		resp.Response = &chainfirev1.ProposeResponse_LeaseGrant{LeaseGrant: r}
	case *pb.LeaseRevokeResponse:
		resp.Response = &chainfirev1.ProposeResponse_LeaseRevoke{LeaseRevoke: r}
	}
	return resp
}
