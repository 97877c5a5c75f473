package raftnode

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/photoncloud/core/pkg/raftlease/raftleasetest"
)

// readRounds does n read indexes on node i, one after the other, and
// returns how many VerifyLeader rounds and lease reads they cost.
func readRounds(t *testing.T, c *leaseCluster, i, n int) (rounds, leaseReads uint64) {
	t.Helper()
	nd := c.nodes[i]
	q0, r0 := nd.LeaseStats()
	for range n {
		if got, err := c.get(context.Background(), i, "k"); err != nil || got != "v" {
			t.Fatalf("get = %q, %v; want v", got, err)
		}
	}
	q1, r1 := nd.LeaseStats()
	return r1 - r0, q1 - q0
}

// While the leader holds its lease, reads take no VerifyLeader round; with
// the lease off, every read takes one.
func TestLeaseReadsSkipVerifyLeader(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		t.Run(fmt.Sprintf("disabled=%v", disabled), func(t *testing.T) {
			c := newLeaseCluster(t, 3, disabled)
			ld := c.leader()
			c.put(ld, "k", "v")
			if _, err := c.get(context.Background(), ld, "k"); err != nil { // warm up
				t.Fatal(err)
			}
			const n = 300
			rounds, leaseReads := readRounds(t, c, ld, n)
			raftleasetest.CheckReadCost(t, disabled, n, rounds, leaseReads)
		})
	}
}

// A lease read sees every write acknowledged before it started.
func TestLeaseReadSeesWrite(t *testing.T) {
	c := newLeaseCluster(t, 3, false)
	ld := c.leader()
	errs := make(chan error, 4)
	for w := range 4 {
		go func() {
			key := fmt.Sprintf("key-%d", w)
			for i := range 100 {
				val := fmt.Sprint(i)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.nodes[ld].Propose(ctx, []byte(key+"="+val))
				cancel()
				if err != nil {
					errs <- err
					return
				}
				ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
				got, err := c.get(ctx, ld, key)
				cancel()
				if err != nil || got != val {
					errs <- fmt.Errorf("%s: read %q, %v after writing %q", key, got, err, val)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if q, _ := c.nodes[ld].LeaseStats(); q == 0 {
		t.Fatal("no read used the lease")
	}
}

// A leadership transfer revokes the lease before the target campaigns.
func TestLeadershipTransferEndsLease(t *testing.T) {
	c := newLeaseCluster(t, 3, false)
	ld := c.leader()
	c.put(ld, "k", "v")
	raftleasetest.CheckTransferEndsLease(t, c.Replica(ld))
	nl := c.leader(ld)
	if got, err := c.get(context.Background(), nl, "k"); err != nil || got != "v" {
		t.Fatalf("new leader read %q, %v", got, err)
	}
}

// A leader cut off from its followers keeps serving lease reads only
// until its lease ends, which is before its followers can even forget it,
// let alone elect a new leader; afterwards it serves no stale read.
func TestPartitionedLeaderLeaseEndsBeforeElection(t *testing.T) {
	c := newLeaseCluster(t, 3, false)
	ctx := context.Background()
	ld := c.leader()
	c.put(ld, "k", "old")
	defer c.isolate(ld, false)
	raftleasetest.CheckPartitionedLease(t, c, ld, testElectionTimeout)

	nl := c.leader(ld)
	c.put(nl, "k", "new")
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if got, err := c.get(rctx, ld, "k"); err == nil && got != "new" {
		t.Fatalf("partitioned old leader served a stale read %q", got)
	}
}
