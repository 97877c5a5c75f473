package raftleasetest

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// CheckRestartedFollowerHold checks the restart hole of lease reads:
// follower a restarts just as the leader is cut off from it, while
// follower b, cut off from the leader earlier, campaigns. Without the vote
// hold a grants b's vote as soon as b asks and b leads while the old
// leader still serves lease reads; with it, no new leader exists before
// the old lease has ended. b campaigns every one to two election timeouts;
// a is restarted shortly before b's next round, and a run where b asked a
// for no vote inside the hold proves nothing and is repeated, up to 8 runs.
//
// start starts a fresh group of three members with election timeout et for
// each run and returns it, its leader ld, which must hold every entry, and
// stop, which closes the group (and heals its links, if it must).
func CheckRestartedFollowerHold(t testing.TB, et time.Duration, start func() (g Group, ld int, stop func())) {
	t.Helper()
	for range 8 {
		if restartOnce(t, et, start) {
			return
		}
	}
	t.Fatal("b never asked a for a vote inside the hold")
}

func restartOnce(t testing.TB, et time.Duration, start func() (Group, int, func())) bool {
	t.Helper()
	g, ld, stop := start()
	defer stop()
	return restartInsideLease(t, g, ld, et)
}

// restartInsideLease runs the scenario once on g led by ld, a and b being
// the two others; it reports whether b asked a for a vote inside the hold.
func restartInsideLease(t testing.TB, g Group, ld int, et time.Duration) bool {
	t.Helper()
	a, b := (ld+1)%3, (ld+2)%3
	old := g.Replica(ld)
	time.Sleep(et / 5) // b has every entry
	g.Cut(ld, b, true)
	bn := g.Replica(b)
	time.Sleep(2 * et) // b has forgotten the leader; a still acks it
	if !old.LeaseRead() {
		t.Fatal("leader holds no lease on a's acks alone")
	}

	// Restart a shortly before b's next round, which comes one to two
	// election timeouts after the one a sees now.
	seen := make(chan raft.Observation, 1)
	obs := raft.NewObserver(seen, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.RequestPreVoteRequest)
		return ok
	})
	g.Replica(a).Raft().RegisterObserver(obs)
	select {
	case <-seen:
	case <-time.After(10 * et):
		t.Fatal("b does not campaign")
	}
	time.Sleep(et * 9 / 10)

	g.Cut(ld, a, true)
	an := g.Restart(a)
	// b's pooled streams to a died with a's old process, and its next
	// request on one would fail; a b with no stream pooled (or a round
	// later) dials afresh, so drop them.
	bn.CloseStreams()
	var maxExp, newLeader time.Time
	for deadline := time.Now().Add(20 * time.Second); newLeader.IsZero() && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if exp := old.LeaseExpiry(); exp.After(maxExp) {
			maxExp = exp
		}
		if an.IsLeader() || bn.IsLeader() {
			newLeader = time.Now()
		}
	}
	if newLeader.IsZero() {
		t.Fatal("no new leader elected")
	}
	refused := an.Hold().Refused()
	t.Logf("a's hold ended %v before the new leader, refused %d votes; old lease ended %v before it",
		newLeader.Sub(an.Hold().Until()), refused, newLeader.Sub(maxExp))
	if maxExp.IsZero() {
		t.Fatal("the old leader had no lease after the restart: the test proved nothing")
	}
	if newLeader.Before(an.Hold().Until()) {
		t.Fatal("a new leader was elected inside a's hold")
	}
	if !maxExp.Before(newLeader) {
		t.Fatalf("old lease ran to %v after the new leader was elected", maxExp.Sub(newLeader))
	}
	return refused > 0
}
