package member

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/lease"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// Leases is the member's lessor (replicated lease state, and expiry when
// this member leads).
func (m *Member) Leases() *lease.Lessor { return m.applier.Leases() }

// minLeaseTTL is etcd's minimum TTL: 1.5 election timeouts, rounded up to
// whole seconds, so a lease cannot expire during a normal election.
func (c Config) minLeaseTTL() int64 {
	et := c.electionTimeout()
	return int64((3*et/2 + time.Second - 1) / time.Second)
}

// LeaseGrant grants a lease through Raft. An id of 0 is replaced by a fresh
// random positive id before proposing, so every replica applies the same.
func (m *Member) LeaseGrant(ctx context.Context, req *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	chosen := req.GetID() == 0
	for attempt := 0; ; attempt++ {
		r := &pb.LeaseGrantRequest{ID: req.GetID(), TTL: req.GetTTL()}
		if chosen {
			r.ID = randomLeaseID()
		}
		out, err := m.Propose(ctx, &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_LeaseGrant{LeaseGrant: r}})
		if chosen && errors.Is(err, etcderr.LeaseExist) && attempt < 3 {
			continue // a random id collided: draw another
		}
		if err != nil {
			return nil, err
		}
		resp, ok := out.(*pb.LeaseGrantResponse)
		if !ok {
			return nil, errors.New("member: lease grant produced no response")
		}
		m.metrics.leasesGranted.Inc()
		return resp, nil
	}
}

func randomLeaseID() int64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := int64(binary.BigEndian.Uint64(b[:]) >> 1); id > 0 {
			return id
		}
	}
}

// LeaseRevoke revokes a lease through Raft.
func (m *Member) LeaseRevoke(ctx context.Context, id int64) (*pb.LeaseRevokeResponse, error) {
	out, err := m.Propose(ctx, &chainfirev1.RaftCommand{Command: &chainfirev1.RaftCommand_LeaseRevoke{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}}})
	if err != nil {
		return nil, err
	}
	resp, ok := out.(*pb.LeaseRevokeResponse)
	if !ok {
		return nil, errors.New("member: lease revoke produced no response")
	}
	m.metrics.leasesRevoked.Inc()
	return resp, nil
}

// LeaseRenew renews lease id and returns its TTL: on the leader directly,
// from a follower by asking the leader, together with the other keepalives
// waiting at the same time (see renewer). An unknown or expired lease is
// etcderr.LeaseNotFound.
func (m *Member) LeaseRenew(ctx context.Context, id int64) (int64, error) {
	ctx, cancel := m.withRequestTimeout(ctx)
	defer cancel()
	return retryOnLeader(ctx, m, func(ctx context.Context) (int64, error) {
		if m.node.IsLeader() {
			return m.LeaseRenewOnLeader(ctx, id)
		}
		return m.renewer.submit(ctx, id)
	})
}

// LeaseRenewOnLeader is the leader's side of a renewal. It waits until the
// lessor is primary (a new leader promotes it once it has applied its
// predecessors' entries) and clears a stale checkpoint through Raft.
func (m *Member) LeaseRenewOnLeader(ctx context.Context, id int64) (int64, error) {
	ttls, err := m.LeaseRenewBatchOnLeader(ctx, []int64{id})
	if err != nil {
		return 0, err
	}
	if ttls[0] <= 0 {
		return 0, etcderr.LeaseNotFound
	}
	return ttls[0], nil
}

// LeaseTimeToLive answers etcd's LeaseTimeToLive from the leader's view.
// An unknown lease answers TTL -1, as etcd does.
func (m *Member) LeaseTimeToLive(ctx context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	ctx, cancel := m.withRequestTimeout(ctx)
	defer cancel()
	return retryOnLeader(ctx, m, func(ctx context.Context) (*pb.LeaseTimeToLiveResponse, error) {
		if m.node.IsLeader() {
			return m.LeaseTimeToLiveOnLeader(ctx, req)
		}
		client, ok := m.leaderClient()
		if !ok {
			return nil, errRetry
		}
		resp, err := client.member.LeaseTimeToLive(ctx, connect.NewRequest(&chainfirev1.LeaseTimeToLiveRequest{Request: req}))
		if err != nil {
			return nil, forwardError(ctx, err)
		}
		return resp.Msg.GetResponse(), nil
	})
}

// LeaseTimeToLiveOnLeader is the leader's side of LeaseTimeToLive.
func (m *Member) LeaseTimeToLiveOnLeader(ctx context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	if err := m.waitPrimary(ctx); err != nil {
		return nil, err
	}
	l, left, err := m.Leases().TimeToLive(req.GetID())
	switch {
	case errors.Is(err, lease.ErrNotPrimary):
		return nil, errRetry
	case errors.Is(err, lease.ErrNotFound):
		return &pb.LeaseTimeToLiveResponse{Header: m.Header(m.store.Rev()), ID: req.GetID(), TTL: -1}, nil
	case err != nil:
		return nil, err
	}
	resp := &pb.LeaseTimeToLiveResponse{Header: m.Header(m.store.Rev()), ID: l.ID, TTL: left, GrantedTTL: l.TTL}
	if req.GetKeys() {
		resp.Keys = make([][]byte, len(l.Keys))
		for i, k := range l.Keys {
			resp.Keys[i] = []byte(k)
		}
	}
	return resp, nil
}

// waitPrimary waits until this leader's lessor is primary. It returns
// errRetry if the member stops being leader meanwhile.
func (m *Member) waitPrimary(ctx context.Context) error {
	for {
		if !m.node.IsLeader() {
			return errRetry
		}
		if m.Leases().Primary() {
			return nil
		}
		select {
		case <-ctx.Done():
			return m.timeoutError(ctx)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// retryOnLeader runs fn until it answers something other than errRetry
// (leader unknown, or the member asked stopped leading), with backoff.
func retryOnLeader[T any](ctx context.Context, m *Member, fn func(context.Context) (T, error)) (T, error) {
	backoff := 5 * time.Millisecond
	for {
		v, err := fn(ctx)
		if !errors.Is(err, errRetry) {
			return v, err
		}
		select {
		case <-ctx.Done():
			var zero T
			return zero, m.timeoutError(ctx)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}
