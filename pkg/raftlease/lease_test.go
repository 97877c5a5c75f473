package raftlease

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func voters(ids ...string) []raft.Server {
	var out []raft.Server
	for _, id := range ids {
		out = append(out, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id)})
	}
	return out
}

func TestLeaseExpiryQuorum(t *testing.T) {
	l := New(true, time.Second)
	conf := voters("1", "2", "3", "4", "5")
	base := time.Now()
	if !l.Expiry(7, "1", conf).IsZero() {
		t.Fatal("lease without acks")
	}
	l.Acked(7, "2", base.Add(-300*time.Millisecond))
	if !l.Expiry(7, "1", conf).IsZero() {
		t.Fatal("lease with 2 of 5 voters")
	}
	l.Acked(7, "3", base.Add(-100*time.Millisecond))
	l.Acked(7, "4", base.Add(-200*time.Millisecond))
	// Leader plus the two newest acks (3 and 4) are a quorum: the lease
	// runs from the older of them.
	if got, want := l.Expiry(7, "1", conf), base.Add(-200*time.Millisecond+800*time.Millisecond); !got.Equal(want) {
		t.Fatalf("expiry %v, want %v", got.Sub(base), want.Sub(base))
	}
	// An older ack never replaces a newer one.
	l.Acked(7, "3", base.Add(-time.Second))
	if got, want := l.Expiry(7, "1", conf), base.Add(600*time.Millisecond); !got.Equal(want) {
		t.Fatalf("expiry after stale ack %v", got.Sub(base))
	}
	if !l.Expiry(6, "1", conf).IsZero() || !l.Expiry(8, "1", conf).IsZero() {
		t.Fatal("lease for another term")
	}
	// Non-voters do not count; a leader outside the configuration has none.
	learners := voters("1", "6", "7")
	for _, id := range []raft.ServerID{"2", "3", "4"} {
		learners = append(learners, raft.Server{Suffrage: raft.Nonvoter, ID: id})
	}
	if !l.Expiry(7, "1", learners).IsZero() {
		t.Fatal("non-voter counted toward the quorum")
	}
	if !l.Expiry(7, "9", conf).IsZero() {
		t.Fatal("lease for a leader outside the configuration")
	}
	// Acks of a newer term replace the old term's.
	l.Acked(8, "2", base)
	if !l.Expiry(7, "1", conf).IsZero() || !l.Expiry(8, "1", conf).IsZero() {
		t.Fatal("old term's acks survived a new term")
	}
	// A leadership transfer ends the term's lease for good.
	l.Acked(8, "3", base)
	l.Acked(8, "4", base)
	if l.Expiry(8, "1", conf).IsZero() {
		t.Fatal("no lease with a quorum of acks")
	}
	l.Revoke(8)
	l.Acked(8, "5", time.Now())
	if !l.Expiry(8, "1", conf).IsZero() {
		t.Fatal("lease after revoke")
	}
	if l.Revoked() != 8 {
		t.Fatalf("Revoked() = %d, want 8", l.Revoked())
	}
}
