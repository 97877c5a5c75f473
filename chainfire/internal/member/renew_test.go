package member_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// keepAliveOnce sends one keepalive for id on its own stream through tm and
// returns the TTL answered.
func keepAliveOnce(ctx context.Context, tm *testMember, id int64) (int64, error) {
	stream := tm.lease.LeaseKeepAlive(ctx)
	defer func() { _ = stream.CloseRequest(); _ = stream.CloseResponse() }()
	if err := stream.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
		return 0, err
	}
	resp, err := stream.Receive()
	if err != nil {
		return 0, err
	}
	if resp.GetID() != id {
		return 0, fmt.Errorf("keepalive for lease %x answered for lease %x", id, resp.GetID())
	}
	return resp.GetTTL(), nil
}

// TestConcurrentKeepAlivesThroughFollower: many keepalives arriving at a
// follower at once are renewed together on the leader. Each must still be
// answered for its own lease, with that lease's TTL, must really renew it
// (it outlives its TTL), and a lease that was revoked or has expired in the
// same batches must be answered TTL 0 (not found).
func TestConcurrentKeepAlivesThroughFollower(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	follower := c.others(leader)[0]

	expired := follower.grant(1)
	follower.putWithLease("renew/expired", expired)
	waitGone(t, "renew/expired", c.members...)
	revoked := follower.grant(60)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := leader.lease.LeaseRevoke(ctx, connect.NewRequest(&pb.LeaseRevokeRequest{ID: revoked})); err != nil {
		t.Fatal(err)
	}
	const n = 24
	ids := make([]int64, n)
	ttls := make([]int64, n)
	// Granted concurrently: one after another on a loaded machine they can
	// take longer than the shortest TTL, and the first would expire before
	// the first round of keepalives.
	var grants sync.WaitGroup
	grantErrs := make([]error, n)
	for i := range ids {
		ttls[i] = int64(4 + i%3) // 4, 5 or 6 s: each answer must carry its own
		grants.Add(1)
		go func() {
			defer grants.Done()
			ids[i], grantErrs[i] = follower.tryGrant(ctx, ttls[i])
		}()
	}
	grants.Wait()
	if err := errors.Join(grantErrs...); err != nil {
		t.Fatal(err)
	}

	// Rounds of concurrent keepalives for 8 s, longer than every TTL.
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		var wg sync.WaitGroup
		errs := make(chan error, 2*n+2)
		check := func(id, want int64) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			got, err := keepAliveOnce(ctx, follower, id)
			if err == nil && got != want {
				err = fmt.Errorf("keepalive of lease %x answered TTL %d, want %d", id, got, want)
			}
			if err != nil {
				errs <- err
			}
		}
		for i, id := range ids {
			wg.Add(2)
			go check(id, ttls[i])
			go check(id, ttls[i]) // the same lease twice in one batch
		}
		wg.Add(2)
		go check(revoked, 0)
		go check(expired, 0)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Asked all at once, right after the last round: one after another on
	// a loaded machine, the last answers could come a TTL after it.
	askCtx, askCancel := context.WithTimeout(context.Background(), callTimeout)
	defer askCancel()
	var asks sync.WaitGroup
	askErrs := make([]error, n)
	for i, id := range ids {
		asks.Add(1)
		go func() {
			defer asks.Done()
			resp, err := leader.lease.LeaseTimeToLive(askCtx, connect.NewRequest(&pb.LeaseTimeToLiveRequest{ID: id}))
			switch {
			case err != nil:
				askErrs[i] = fmt.Errorf("time-to-live of %x: %w", id, err)
			case resp.Msg.GetTTL() <= 0 || resp.Msg.GetGrantedTTL() != ttls[i]:
				askErrs[i] = fmt.Errorf("lease %x kept alive through the follower: time-to-live %v", id, resp.Msg)
			}
		}()
	}
	asks.Wait()
	if err := errors.Join(askErrs...); err != nil {
		t.Fatal(err)
	}
}
