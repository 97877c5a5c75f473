package member_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/member"
	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// testMinTTL is the minimum lease TTL with testElectionTimeout (1.5
// election timeouts, rounded up to whole seconds, as in etcd), so the TTLs
// below are real, short ones.
const testMinTTL = int64((3*testElectionTimeout/2 + time.Second - 1) / time.Second)

func (tm *testMember) grant(ttl int64) int64 {
	tm.c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	id, err := tm.tryGrant(ctx, ttl)
	if err != nil {
		tm.c.t.Fatal(err)
	}
	return id
}

// tryGrant grants a lease through tm. Granting again after an uncertain
// outcome at worst leaves a lease nobody uses, which expires.
func (tm *testMember) tryGrant(ctx context.Context, ttl int64) (int64, error) {
	var resp *connect.Response[pb.LeaseGrantResponse]
	err := retryIdempotent(ctx, func() (err error) {
		resp, err = tm.lease.LeaseGrant(ctx, connect.NewRequest(&pb.LeaseGrantRequest{TTL: ttl}))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("grant via %s: %w", tm.name, err)
	}
	return resp.Msg.GetID(), nil
}

func (tm *testMember) putWithLease(key string, id int64) {
	tm.c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	// Writing the same value and lease again changes nothing these tests see.
	if err := retryIdempotent(ctx, func() error {
		_, err := tm.kv.Put(ctx, connect.NewRequest(&pb.PutRequest{Key: []byte(key), Value: []byte("v"), Lease: id}))
		return err
	}); err != nil {
		tm.c.t.Fatalf("put %s with lease %x via %s: %v", key, id, tm.name, err)
	}
}

func (tm *testMember) timeToLive(id int64) *pb.LeaseTimeToLiveResponse {
	tm.c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var resp *connect.Response[pb.LeaseTimeToLiveResponse]
	err := retryIdempotent(ctx, func() (err error) {
		resp, err = tm.lease.LeaseTimeToLive(ctx, connect.NewRequest(&pb.LeaseTimeToLiveRequest{ID: id, Keys: true}))
		return err
	})
	if err != nil {
		tm.c.t.Fatalf("time-to-live of %x via %s: %v", id, tm.name, err)
	}
	return resp.Msg
}

// keepAlive renews leases() through tm every interval until ctx ends, over one
// keepalive stream per round. Like clientv3, it does not wait for one
// renewal's answer before sending the next: on a loaded machine twenty
// sequential round trips through a follower can outlast a short TTL.
func keepAlive(ctx context.Context, tm func() *testMember, leases func() []int64, interval time.Duration) {
	for ctx.Err() == nil {
		target, ids := tm(), leases()
		// A stuck round gives up soon, so the next one can try the other
		// target well within the TTLs used here.
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		stream := target.lease.LeaseKeepAlive(sctx)
		sent := 0
		for _, id := range ids {
			if stream.Send(&pb.LeaseKeepAliveRequest{ID: id}) != nil {
				break
			}
			sent++
		}
		for range sent {
			if _, err := stream.Receive(); err != nil {
				break
			}
		}
		_ = stream.CloseRequest()
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}

// waitGone waits until key is absent on every given member.
func waitGone(t *testing.T, key string, ms ...*testMember) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for _, tm := range ms {
		for {
			if _, _, ok := valueOf(tm.mustGet(key, true)); !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still has %s after %v", tm.name, key, waitTimeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func TestLeaseExpiryDeletesKeysOnEveryMember(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	follower := c.others(leader)[0]
	id := follower.grant(testMinTTL)
	follower.putWithLease("exp/a", id)
	leader.putWithLease("exp/b", id)
	if got := leader.timeToLive(id); len(got.GetKeys()) != 2 || got.GetGrantedTTL() != testMinTTL {
		t.Fatalf("time-to-live = %v, want 2 keys and granted TTL %d", got, testMinTTL)
	}
	waitGone(t, "exp/a", c.members...)
	waitGone(t, "exp/b", c.members...)
	if got := follower.timeToLive(id); got.GetTTL() != -1 {
		t.Fatalf("expired lease has TTL %d, want -1", got.GetTTL())
	}
	for _, tm := range c.members {
		if tm.m.Leases().Exists(id) {
			t.Fatalf("%s still holds the expired lease", tm.name)
		}
	}
}

func TestLeaseKeepAliveThroughFollower(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	follower := c.others(leader)[0]
	id := follower.grant(testMinTTL)
	follower.putWithLease("ka/key", id)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		keepAlive(ctx, func() *testMember { return follower }, func() []int64 { return []int64{id} }, 200*time.Millisecond)
	}()
	time.Sleep(4 * time.Duration(testMinTTL) * time.Second) // four TTLs: only the keepalives keep it
	if _, _, ok := valueOf(leader.mustGet("ka/key", false)); !ok {
		cancel()
		t.Fatal("a lease kept alive through a follower expired")
	}
	if ttl := follower.timeToLive(id).GetTTL(); ttl < 0 {
		t.Fatalf("kept-alive lease reports TTL %d", ttl)
	}
	cancel()
	<-done
	waitGone(t, "ka/key", c.members...)
}

func TestLeaseLeaderCrashNoEarlyExpiry(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.waitLeader()
	survivors := c.others(old)
	var (
		mu      sync.Mutex
		round   int
		kept    []int64
		dropped []int64
	)
	// Keepalives run from the first grant on: granting 25 leases and
	// attaching keys can take longer than a TTL on a loaded machine.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		keepAlive(ctx, func() *testMember {
			mu.Lock()
			defer mu.Unlock()
			round++
			return survivors[round%2]
		}, func() []int64 {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(kept)
		}, 300*time.Millisecond)
	}()
	for i := range 20 {
		id := survivors[i%2].grant(3)
		mu.Lock()
		kept = append(kept, id)
		mu.Unlock()
		survivors[i%2].putWithLease(fmt.Sprintf("kept/%d", i), id)
	}
	for i := range 5 {
		id := survivors[0].grant(testMinTTL)
		survivors[0].putWithLease(fmt.Sprintf("dropped/%d", i), id)
		dropped = append(dropped, id)
	}
	time.Sleep(time.Second)
	old.crash()
	c.waitLeader(survivors...)
	// For several TTLs after the crash every kept lease must still hold its key.
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		for i := range kept {
			if _, _, ok := valueOf(survivors[0].mustGet(fmt.Sprintf("kept/%d", i), true)); !ok {
				t.Fatalf("kept/%d vanished: a lease kept alive across the leader crash expired", i)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The unrenewed ones are revoked by the new leader.
	for i := range dropped {
		waitGone(t, fmt.Sprintf("dropped/%d", i), survivors...)
	}
	cancel()
	wg.Wait()
}

func TestLeaseSurvivesFullRestart(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	id := leader.grant(60)
	leader.putWithLease("restart/a", id)
	c.waitConverged()
	for _, tm := range c.members {
		tm.shutdown()
	}
	for _, tm := range c.members {
		tm.start()
		if !tm.m.Leases().Exists(id) {
			t.Fatalf("%s reopened without lease %x", tm.name, id)
		}
	}
	leader = c.waitLeader()
	got := c.members[0].timeToLive(id)
	if got.GetTTL() <= 0 || got.GetGrantedTTL() != 60 || len(got.GetKeys()) != 1 || string(got.GetKeys()[0]) != "restart/a" {
		t.Fatalf("after restart time-to-live = %v, want a live 60s lease holding restart/a", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := c.members[1].lease.LeaseRevoke(ctx, connect.NewRequest(&pb.LeaseRevokeRequest{ID: id})); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := valueOf(leader.mustGet("restart/a", false)); ok {
		t.Fatal("revoking the restored lease left its key")
	}
}

func TestLeaseCheckpointSurvivesLeaderChange(t *testing.T) {
	c := newCluster(t, 3, func(cfg *member.Config) { cfg.LeaseCheckpointInterval = 300 * time.Millisecond })
	leader := c.waitLeader()
	id := leader.grant(30)
	time.Sleep(4 * time.Second)
	c.transferLeadership(c.others(leader)[0])
	// Without checkpoints the new leader would restart the lease at 30s
	// (plus its election extension).
	if ttl := c.members[0].timeToLive(id).GetTTL(); ttl <= 0 || ttl >= 29 {
		t.Fatalf("after a leader change the 30s lease has %ds left, want it to continue from its checkpoint (< 29s)", ttl)
	}
}
