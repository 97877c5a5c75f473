package store

import (
	"context"
	"testing"
	"time"

	"github.com/photoncloud/core/pkg/raftlease/raftleasetest"
)

// A leader cut off from its followers keeps serving lease reads only
// until its lease ends, which is before its followers can even forget it,
// let alone elect a new leader; afterwards it serves no stale read.
func TestPartitionedLeaderLeaseEndsBeforeElection(t *testing.T) {
	const et = 500 * time.Millisecond
	c := newTestCluster(t, 3, Config{ElectionTimeout: et})
	ctx := context.Background()
	ld := c.leader()
	if err := c.put(ctx, ld, "k", "old"); err != nil {
		t.Fatal(err)
	}
	defer c.partition(ld, false)
	raftleasetest.CheckPartitionedLease(t, c, ld, et)

	nl := c.leader(ld)
	if err := c.put(ctx, nl, "k", "new"); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if got, err := c.get(rctx, ld, "k"); err == nil && got != "new" {
		t.Fatalf("partitioned old leader served a stale read %q", got)
	}
}
