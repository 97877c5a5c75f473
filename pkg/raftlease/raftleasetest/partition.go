package raftleasetest

import (
	"testing"
	"time"
)

// CheckPartitionedLease checks that a leader cut off from its followers
// keeps serving lease reads only until its lease ends, which is before its
// followers can even forget it, let alone elect a new leader. g is a group
// of three members with election timeout et, led by member ld, which must
// hold a lease. CheckPartitionedLease cuts every link of ld and returns
// once a new leader has led for et; healing the links is the caller's.
func CheckPartitionedLease(t testing.TB, g Group, ld int, et time.Duration) {
	t.Helper()
	old := g.Replica(ld)
	if !old.LeaseRead() {
		t.Fatal("leader holds no lease before the partition")
	}
	var followers []Replica
	for i := range g.Size() {
		if i != ld {
			followers = append(followers, g.Replica(i))
		}
	}

	var maxExp, lastLeaseRead, newLeader time.Time
	servedAfterCut := 0
	cut := time.Now()
	for j := range g.Size() {
		if j != ld {
			g.Cut(ld, j, true)
		}
	}
	var lastContact []time.Time // of each follower
	for deadline := cut.Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		before := time.Now()
		if exp := old.LeaseExpiry(); exp.After(maxExp) {
			maxExp = exp
		}
		if old.LeaseRead() {
			lastLeaseRead = before
			servedAfterCut++
		}
		// Well after the cut and well before any election can succeed,
		// the followers' last contact is the old leader's last append.
		if len(lastContact) == 0 && time.Since(cut) > et/4 {
			for _, f := range followers {
				lastContact = append(lastContact, f.Raft().LastContact())
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
}
