package bench

import (
	"context"
	"fmt"
	"math/rand/v2"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseTTL outlives any row, so no lease expires while it is renewed.
const leaseTTL = 600

// runLeaseKeepAlive grants one lease per client, then has every client
// renew its lease with KeepAliveOnce (one LeaseKeepAlive stream, one
// request and one response) in a loop. The leases are revoked afterwards.
func runLeaseKeepAlive(ctx context.Context, t *target, o Options, row Row) Result {
	ids := make([]clientv3.LeaseID, row.Clients)
	defer revokeAll(ctx, t, ids)
	for i := range ids {
		resp, err := t.conn(i, row.Clients).Grant(ctx, leaseTTL)
		if err != nil {
			return Result{Skip: skipReason(fmt.Errorf("grant: %w", err))}
		}
		ids[i] = resp.ID
	}
	return runClientsCPU(ctx, t, o, row.Clients, func(ctx context.Context, i int, _ *rand.Rand) error {
		_, err := t.conn(i, row.Clients).KeepAliveOnce(ctx, ids[i])
		return err
	})
}

func revokeAll(ctx context.Context, t *target, ids []clientv3.LeaseID) {
	for i, id := range ids {
		if id != 0 {
			_, _ = t.conn(i, len(ids)).Revoke(ctx, id)
		}
	}
}
