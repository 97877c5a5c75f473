package member

import (
	"context"
	"errors"
	"sync"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/coalesce"
	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/lease"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
)

// renewWorkers is how many batches of keepalives a follower keeps in flight
// to the leader; a new batch forms while an earlier one is answered.
const renewWorkers = 2

// maxRenewBatch bounds the leases renewed by one forwarded call.
const maxRenewBatch = 1024

// renewer funnels a follower's keepalives to the leader in batches, as the
// forwarder does for writes: under load every keepalive that arrives while
// a batch is in flight joins the next one, so a follower costs the leader
// one LeaseRenewBatch call per batch instead of one call per keepalive.
type renewer struct {
	m     *Member
	batch *coalesce.Batcher[int64, int64]
}

func newRenewer(m *Member) *renewer {
	r := &renewer{m: m}
	r.batch = coalesce.NewBatcher(maxRenewBatch, r.send)
	return r
}

func (r *renewer) run(ctx context.Context, wg *sync.WaitGroup) {
	r.batch.Run(ctx, renewWorkers, wg)
}

// submit renews id with the next batch and waits for its result: the TTL,
// etcderr.LeaseNotFound, or errRetry when the leader changed or is unknown
// (renewing again is harmless).
func (r *renewer) submit(ctx context.Context, id int64) (int64, error) {
	ttl, err := r.batch.Submit(ctx, id)
	if ctx.Err() != nil && (errors.Is(err, coalesce.ErrNotSent) || errors.Is(err, ctx.Err())) {
		return 0, r.m.timeoutError(ctx)
	}
	return ttl, err
}

func (r *renewer) send(ctx context.Context, ids []int64) []coalesce.Result[int64] {
	out := make([]coalesce.Result[int64], len(ids))
	ttls, err := r.m.forwardRenew(ctx, ids)
	for i := range out {
		switch {
		case err != nil:
			out[i].Err = err
		case ttls[i] <= 0:
			out[i].Err = etcderr.LeaseNotFound
		default:
			out[i].Value = ttls[i]
		}
	}
	return out
}

// forwardRenew asks the leader to renew ids and returns their TTLs in
// order, 0 for a lease the leader does not know.
func (m *Member) forwardRenew(ctx context.Context, ids []int64) ([]int64, error) {
	client, ok := m.leaderClient()
	if !ok {
		return nil, errRetry
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	resp, err := client.member.LeaseRenewBatch(ctx, connect.NewRequest(&chainfirev1.LeaseRenewBatchRequest{Ids: ids}))
	if connect.CodeOf(err) == connect.CodeUnimplemented {
		return m.forwardRenewEach(ctx, client, ids) // a leader from before batching
	}
	if err != nil {
		return nil, forwardError(ctx, err)
	}
	if len(resp.Msg.GetTtls()) != len(ids) {
		return nil, connect.NewError(connect.CodeInternal, errBatchMismatch)
	}
	return resp.Msg.GetTtls(), nil
}

// forwardRenewEach renews ids one call each, for a leader that does not
// serve LeaseRenewBatch.
func (m *Member) forwardRenewEach(ctx context.Context, client peerClient, ids []int64) ([]int64, error) {
	ttls := make([]int64, len(ids))
	for i, id := range ids {
		resp, err := client.member.LeaseRenew(ctx, connect.NewRequest(&chainfirev1.LeaseRenewRequest{Id: id}))
		if err != nil {
			return nil, forwardError(ctx, err)
		}
		ttls[i] = resp.Msg.GetTtl()
	}
	return ttls, nil
}

// LeaseRenewBatchOnLeader is the leader's side of renewals: it renews every
// id and returns their TTLs in order, 0 for a lease that does not exist (or
// has expired). Leases whose checkpointed remaining TTL must be cleared are
// cleared together, in one Raft proposal.
func (m *Member) LeaseRenewBatchOnLeader(ctx context.Context, ids []int64) ([]int64, error) {
	if err := m.waitPrimary(ctx); err != nil {
		return nil, err
	}
	ttls := make([]int64, len(ids))
	var clear []*chainfirev1.LeaseCheckpoint
	renewed := 0
	for i, id := range ids {
		ttl, needClear, err := m.Leases().Renew(id)
		switch {
		case errors.Is(err, lease.ErrNotPrimary):
			return nil, errRetry
		case errors.Is(err, lease.ErrNotFound):
			continue // TTL 0
		case err != nil:
			return nil, err
		}
		ttls[i] = ttl
		renewed++
		if needClear {
			clear = append(clear, &chainfirev1.LeaseCheckpoint{Id: id})
		}
	}
	if len(clear) > 0 {
		cp := &chainfirev1.LeaseCheckpoints{Checkpoints: clear}
		if _, err := m.ProposeOnLeader(ctx, &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_LeaseCheckpoints{LeaseCheckpoints: cp}}); err != nil {
			return nil, err
		}
	}
	m.metrics.leaseKeepalives.Add(float64(renewed))
	return ttls, nil
}
