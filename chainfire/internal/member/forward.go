package member

import (
	"context"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

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
	queue chan *forwardReq
}

type forwardReq struct {
	cmd  *chainfirev1.RaftCommand
	done chan forwardResult
}

type forwardResult struct {
	resp proto.Message
	err  error
}

func newForwarder(m *Member) *forwarder {
	return &forwarder{m: m, queue: make(chan *forwardReq, 4096)}
}

func (f *forwarder) run(ctx context.Context, wg *sync.WaitGroup) {
	for range forwardWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.work(ctx)
		}()
	}
}

func (f *forwarder) work(ctx context.Context) {
	batch := make([]*forwardReq, 0, maxForwardBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-f.queue:
			batch = append(batch[:0], r)
		}
	drain:
		for len(batch) < maxForwardBatch {
			select {
			case r := <-f.queue:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		f.send(ctx, batch)
	}
}

// submit forwards cmd with the next batch and waits for its result.
func (f *forwarder) submit(ctx context.Context, cmd *chainfirev1.RaftCommand) (proto.Message, error) {
	r := &forwardReq{cmd: cmd, done: make(chan forwardResult, 1)}
	select {
	case f.queue <- r:
	case <-ctx.Done():
		return nil, errRetry // never sent: safe to report as not proposed
	}
	select {
	case res := <-r.done:
		return res.resp, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *forwarder) send(ctx context.Context, batch []*forwardReq) {
	client, ok := f.m.leaderClient()
	if !ok {
		for _, r := range batch {
			r.done <- forwardResult{err: errRetry}
		}
		return
	}
	req := &chainfirev1.ProposeBatchRequest{Commands: make([]*chainfirev1.RaftCommand, len(batch))}
	for i, r := range batch {
		req.Commands[i] = r.cmd
	}
	ctx, cancel := context.WithTimeout(ctx, f.m.cfg.RequestTimeout)
	defer cancel()
	resp, err := client.member.ProposeBatch(ctx, connect.NewRequest(req))
	if err == nil && len(resp.Msg.GetResults()) != len(batch) {
		err = connect.NewError(connect.CodeInternal, errBatchMismatch)
	}
	for i, r := range batch {
		if err != nil {
			r.done <- forwardResult{err: forwardError(ctx, err)}
			continue
		}
		r.done <- resultOf(resp.Msg.GetResults()[i])
	}
}

func resultOf(res *chainfirev1.ProposeResult) forwardResult {
	if res.GetErrorCode() != 0 {
		if res.GetErrorMessage() == etcderr.NotLeader.Msg {
			return forwardResult{err: errRetry}
		}
		return forwardResult{err: &etcderr.Error{Code: connect.Code(res.GetErrorCode()), Msg: res.GetErrorMessage()}}
	}
	return forwardResult{resp: UnwrapResponse(res.GetResponse())}
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
