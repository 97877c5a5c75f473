package store

import (
	"context"
	"testing"
	"time"
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
	old := c.stores[ld].Peer(1)
	if _, ok := old.leaseRead(); !ok {
		t.Fatal("leader holds no lease before the partition")
	}
	var followers []*Peer
	for i, st := range c.stores {
		if i != ld {
			followers = append(followers, st.Peer(1))
		}
	}

	var maxExp, lastLeaseRead, newLeader time.Time
	servedAfterCut := 0
	cut := time.Now()
	c.partition(ld, true)
	defer c.partition(ld, false)
	lastContact := map[*Peer]time.Time{}
	for deadline := cut.Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		before := time.Now()
		if _, exp := old.leaseExpiry(); exp.After(maxExp) {
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
	if err := c.put(ctx, nl, "k", "new"); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if got, err := c.get(rctx, ld, "k"); err == nil && got != "new" {
		t.Fatalf("partitioned old leader served a stale read %q", got)
	}
}
