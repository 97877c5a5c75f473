package raftnode

import (
	"context"
	"fmt"
	"testing"
	"time"
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
			t.Logf("%d reads: %d VerifyLeader rounds, %d lease reads", n, rounds, leaseReads)
			if disabled {
				if rounds < n || leaseReads != 0 {
					t.Fatalf("lease reads off: %d rounds, %d lease reads for %d reads", rounds, leaseReads, n)
				}
				return
			}
			if rounds > 5 || leaseReads < n-5 {
				t.Fatalf("lease reads on: %d rounds, %d lease reads for %d reads", rounds, leaseReads, n)
			}
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
	nd := c.nodes[ld]
	if _, ok := nd.leaseRead(); !ok {
		t.Fatal("leader holds no lease")
	}
	term := nd.raft.CurrentTerm()
	if err := nd.raft.LeadershipTransfer().Error(); err != nil {
		t.Fatal(err)
	}
	if revoked := nd.lease.Revoked(); revoked < term {
		t.Fatalf("transfer in term %d left the lease unrevoked (revoked up to %d)", term, revoked)
	}
	if _, ok := nd.leaseRead(); ok {
		t.Fatal("old leader still serves lease reads after a transfer")
	}
	nl := c.leader(ld)
	if got, err := c.get(context.Background(), nl, "k"); err != nil || got != "v" {
		t.Fatalf("new leader read %q, %v", got, err)
	}
}

// A leader cut off from its followers keeps serving lease reads only
// until its lease ends, which is before its followers can even forget it,
// let alone elect a new leader; afterwards it serves no stale read.
func TestPartitionedLeaderLeaseEndsBeforeElection(t *testing.T) {
	const et = testElectionTimeout
	c := newLeaseCluster(t, 3, false)
	ctx := context.Background()
	ld := c.leader()
	c.put(ld, "k", "old")
	old := c.nodes[ld]
	if _, ok := old.leaseRead(); !ok {
		t.Fatal("leader holds no lease before the partition")
	}
	var followers []*Node
	for i, nd := range c.nodes {
		if i != ld {
			followers = append(followers, nd)
		}
	}

	var maxExp, lastLeaseRead, newLeader time.Time
	servedAfterCut := 0
	cut := time.Now()
	c.isolate(ld, true)
	defer c.isolate(ld, false)
	lastContact := map[*Node]time.Time{}
	for deadline := cut.Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		before := time.Now()
		if _, exp := old.lease.Check(old.leaseReplica()); exp.After(maxExp) {
			maxExp = exp
		}
		if _, ok := old.leaseRead(); ok {
			lastLeaseRead = before
			servedAfterCut++
		}
		// Well after the cut and well before any election can succeed,
		// the followers' last contact is the old leader's last append.
		if len(lastContact) == 0 && time.Since(cut) > et/4 {
			for _, f := range followers {
				lastContact[f] = f.raft.LastContact()
			}
		}
		for _, f := range followers {
			if newLeader.IsZero() && f.IsLeader() {
				newLeader = time.Now()
			}
		}
		if !newLeader.IsZero() && time.Since(newLeader) > et {
			break
		}
	}
	if newLeader.IsZero() {
		t.Fatal("no new leader elected")
	}
	// With three voters a new leader needs both followers, and neither
	// votes for anyone before its last contact plus the election timeout.
	var earliestElection time.Time
	for _, lc := range lastContact {
		if lc.Add(et).After(earliestElection) {
			earliestElection = lc.Add(et)
		}
	}
	t.Logf("after the cut: %d lease reads, last %v after it; lease ended %v, earliest election %v, observed %v",
		servedAfterCut, lastLeaseRead.Sub(cut), maxExp.Sub(cut), earliestElection.Sub(cut), newLeader.Sub(cut))
	if servedAfterCut == 0 {
		t.Fatal("the lease did not outlive the cut: the test proved nothing")
	}
	if !maxExp.Before(earliestElection) {
		t.Fatalf("lease ran to %v after the cut, a new leader could be elected from %v", maxExp.Sub(cut), earliestElection.Sub(cut))
	}
	if !lastLeaseRead.Before(newLeader) {
		t.Fatal("old leader served a lease read after a new leader was elected")
	}

	nl := c.leader(ld)
	c.put(nl, "k", "new")
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if got, err := c.get(rctx, ld, "k"); err == nil && got != "new" {
		t.Fatalf("partitioned old leader served a stale read %q", got)
	}
}
