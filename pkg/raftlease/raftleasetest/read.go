package raftleasetest

import "testing"

// CheckReadCost checks what n reads on a leader cost: with lease reads
// off (disabled), a VerifyLeader round each and no lease read; on, at most
// 5 rounds and at least n-5 lease reads.
func CheckReadCost(t testing.TB, disabled bool, n, rounds, leaseReads uint64) {
	t.Helper()
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
}

// CheckTransferEndsLease transfers leadership away from r, which must lead
// and hold a lease, and checks that the transfer revoked the lease of r's
// term before the target campaigned, so that r serves no lease read after.
func CheckTransferEndsLease(t testing.TB, r Replica) {
	t.Helper()
	if !r.LeaseRead() {
		t.Fatal("leader holds no lease")
	}
	term := r.Raft().CurrentTerm()
	if err := r.Raft().LeadershipTransfer().Error(); err != nil {
		t.Fatal(err)
	}
	if revoked := r.Lease().Revoked(); revoked < term {
		t.Fatalf("transfer in term %d left the lease unrevoked (revoked up to %d)", term, revoked)
	}
	if r.LeaseRead() {
		t.Fatal("old leader still serves lease reads after a transfer")
	}
}
