package member

import (
	"context"
	"errors"
	"sync"

	"connectrpc.com/connect"

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
	queue chan *renewReq
}

type renewReq struct {
	id   int64
	done chan renewResult
}

type renewResult struct {
	ttl int64
	err error
}

func newRenewer(m *Member) *renewer {
	return &renewer{m: m, queue: make(chan *renewReq, 4096)}
}

func (r *renewer) run(ctx context.Context, wg *sync.WaitGroup) {
	for range renewWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(ctx)
		}()
	}
}

func (r *renewer) work(ctx context.Context) {
	batch := make([]*renewReq, 0, maxRenewBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-r.queue:
			batch = append(batch[:0], req)
		}
	drain:
		for len(batch) < maxRenewBatch {
			select {
			case req := <-r.queue:
				batch = append(batch, req)
			default:
				break drain
			}
		}
		r.send(ctx, batch)
	}
}

// submit renews id with the next batch and waits for its result: the TTL,
// etcderr.LeaseNotFound, or errRetry when the leader changed or is unknown
// (renewing again is harmless).
func (r *renewer) submit(ctx context.Context, id int64) (int64, error) {
	req := &renewReq{id: id, done: make(chan renewResult, 1)}
	select {
	case r.queue <- req:
	case <-ctx.Done():
		return 0, r.m.timeoutError(ctx)
	}
	select {
	case res := <-req.done:
		return res.ttl, res.err
	case <-ctx.Done():
		return 0, r.m.timeoutError(ctx)
	}
}

func (r *renewer) send(ctx context.Context, batch []*renewReq) {
	ids := make([]int64, len(batch))
	for i, req := range batch {
		ids[i] = req.id
	}
	ttls, err := r.m.forwardRenew(ctx, ids)
	for i, req := range batch {
		switch {
		case err != nil:
			req.done <- renewResult{err: err}
		case ttls[i] <= 0:
			req.done <- renewResult{err: etcderr.LeaseNotFound}
		default:
			req.done <- renewResult{ttl: ttls[i]}
		}
	}
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
