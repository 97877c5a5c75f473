package member_test

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"

	pb "github.com/photoncloud/core/proto/etcdserverpb"
)

// What the harness's clients do about a leader change, which a loaded
// machine can cause in any test. etcd answers a request caught by one with
// Unavailable ("leader changed", "no leader", "request timed out"). clientv3
// retries reads on it, as getRetry does. It does not retry writes: the
// entry may have been appended before leadership was lost and commit under
// the next leader, so the application must find out. putResolved does, and
// only then writes again, so no test ever sees a write applied twice.

// retryBackoff spaces out attempts while a new leader is being elected.
const retryBackoff = 100 * time.Millisecond

// leaderTrouble reports an answer etcd gives while the cluster has no
// working leader.
func leaderTrouble(err error) bool {
	return connect.CodeOf(err) == connect.CodeUnavailable
}

// getRetry reads key through tm, retrying on leaderTrouble until ctx ends.
func (tm *testMember) getRetry(ctx context.Context, key string, serializable bool) (*pb.RangeResponse, error) {
	for {
		resp, err := tm.get(ctx, key, serializable)
		if err == nil || !leaderTrouble(err) {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(retryBackoff):
		}
	}
}

// putResolved writes key=value through tm. When the answer is leaderTrouble
// the write may or may not have committed. A linearizable read settles it:
// it is served by a leader of a later term, which committed an entry of its
// own first, so every entry of the old term is by then either committed or
// discarded for good. If the key holds value at a revision newer than any
// member had applied before the attempt, that is this write (the tests
// never write one value to one key twice concurrently); otherwise it is
// written again.
func (tm *testMember) putResolved(ctx context.Context, key, value string) (*pb.PutResponse, error) {
	for {
		before := tm.c.appliedRev()
		resp, err := tm.put(ctx, key, value)
		if err == nil || !leaderTrouble(err) {
			return resp, err
		}
		r, rerr := tm.getRetry(ctx, key, false)
		if rerr != nil {
			return nil, fmt.Errorf("put failed with %w; reading back: %w", err, rerr)
		}
		if got, mod, ok := valueOf(r); ok && got == value && mod > before {
			tm.c.t.Logf("put %s via %s: %v, but it committed at %d", key, tm.name, err, mod)
			return &pb.PutResponse{Header: &pb.ResponseHeader{
				ClusterId: tm.m.ClusterID(), MemberId: tm.m.ID(), Revision: mod, RaftTerm: r.GetHeader().GetRaftTerm(),
			}}, nil
		}
		tm.c.t.Logf("put %s via %s: %v, and it did not commit; writing again", key, tm.name, err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(retryBackoff):
		}
	}
}

// appliedRev is the highest revision any running member has applied. A
// write was acknowledged only after the member that answered applied it,
// so every acknowledged write is at or below it.
func (c *testCluster) appliedRev() int64 {
	var rev int64
	for _, tm := range c.members {
		if m := tm.m; m != nil {
			rev = max(rev, m.Store().Rev())
		}
	}
	return rev
}

// retryIdempotent runs call until it succeeds, fails with something other than
// leaderTrouble, or ctx ends. It is for requests that are idempotent as the
// calling test observes them (a read, a delete, rewriting the same value),
// where doing one twice after an uncertain outcome is harmless.
func retryIdempotent(ctx context.Context, call func() error) error {
	for {
		err := call()
		if err == nil || !leaderTrouble(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(retryBackoff):
		}
	}
}
