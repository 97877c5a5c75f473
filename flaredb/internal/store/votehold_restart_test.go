package store

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// restartStore closes store i and opens it again from its files on the
// same raft address, as a process restart would.
func (c *testCluster) restartStore(i int) *Store {
	c.t.Helper()
	old := c.stores[i]
	cfg := old.cfg
	cfg.RaftAddr = old.RaftAddr()
	if err := old.Close(); err != nil {
		c.t.Fatal(err)
	}
	st, err := Open(cfg, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = st.Close() })
	for j := range c.stores {
		if j != i {
			st.learnAddr(c.stores[j].ID(), c.links[[2]int{i, j}].ln.Addr().String())
		}
	}
	st.Run()
	c.stores[i] = st
	return st
}

// cut cuts (or heals) the links between stores i and j.
func (c *testCluster) cut(i, j int, cut bool) {
	c.links[[2]int{i, j}].setCut(cut)
	c.links[[2]int{j, i}].setCut(cut)
}

// The restart hole of lease reads: follower a restarts just as the leader
// is cut off from it, while follower b, cut off from the leader earlier,
// campaigns. Without the vote hold a grants b's vote as soon as b asks
// and b leads while the old leader still serves lease reads; with it, no
// new leader exists before the old lease has ended. b campaigns every one
// to two election timeouts; a is restarted shortly before b's next round,
// and a run where b still asked a for no vote inside the hold proves
// nothing and is repeated.
func TestRestartedFollowerHoldsVoteInsideLease(t *testing.T) {
	for range 8 {
		if restartInsideLease(t) {
			return
		}
	}
	t.Fatal("b never asked a for a vote inside the hold")
}

// restartInsideLease runs the scenario once; it reports whether b asked a
// for a vote inside the hold.
func restartInsideLease(t *testing.T) bool {
	const et = 500 * time.Millisecond
	c := newTestCluster(t, 3, Config{ElectionTimeout: et})
	defer func() {
		for _, st := range c.stores {
			_ = st.Close()
		}
	}()
	ctx := context.Background()
	ld := c.leader()
	if err := c.put(ctx, ld, "k", "old"); err != nil {
		t.Fatal(err)
	}
	a, b := (ld+1)%3, (ld+2)%3
	old := c.stores[ld].Peer(1)
	time.Sleep(et / 5) // b has every entry
	c.cut(ld, b, true)
	defer c.cut(ld, b, false)
	bp := c.stores[b].Peer(1)
	time.Sleep(2 * et) // b has forgotten the leader; a still acks it
	if _, ok := old.leaseRead(); !ok {
		t.Fatal("leader holds no lease on a's acks alone")
	}

	// Restart a's store shortly before b's next round, which comes one to two
	// election timeouts after the one a sees now.
	seen := make(chan raft.Observation, 1)
	obs := raft.NewObserver(seen, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.RequestPreVoteRequest)
		return ok
	})
	c.stores[a].Peer(1).raft.RegisterObserver(obs)
	select {
	case <-seen:
	case <-time.After(10 * et):
		t.Fatal("b does not campaign")
	}
	time.Sleep(et * 9 / 10)

	c.cut(ld, a, true)
	defer c.cut(ld, a, false)
	ap := c.restartStore(a).Peer(1)
	// b's pooled streams to a died with a's old process, and its next
	// request on one would fail; a b with no stream pooled (or a round
	// later) dials afresh, so drop them.
	bp.trans.CloseStreams()
	var maxExp, newLeader time.Time
	for deadline := time.Now().Add(20 * time.Second); newLeader.IsZero() && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, exp := old.leaseExpiry(); exp.After(maxExp) {
			maxExp = exp
		}
		if ap.IsLeader() || bp.IsLeader() {
			newLeader = time.Now()
		}
	}
	if newLeader.IsZero() {
		t.Fatal("no new leader elected")
	}
	refused := ap.hold.Refused()
	t.Logf("a's hold ended %v before the new leader, refused %d votes; old lease ended %v before it",
		newLeader.Sub(ap.hold.Until()), refused, newLeader.Sub(maxExp))
	if maxExp.IsZero() {
		t.Fatal("the old leader had no lease after the restart: the test proved nothing")
	}
	if newLeader.Before(ap.hold.Until()) {
		t.Fatal("a new leader was elected inside a's hold")
	}
	if !maxExp.Before(newLeader) {
		t.Fatalf("old lease ran to %v after the new leader was elected", maxExp.Sub(newLeader))
	}
	return refused > 0
}

// A region with one voter elects itself although its hold refuses every
// vote request: its vote for itself never crosses the transport.
func TestSingleVoterElectsItselfDuringHold(t *testing.T) {
	const et = 500 * time.Millisecond
	c := newTestCluster(t, 1, Config{ElectionTimeout: et})
	c.leader()
	p := c.stores[0].Peer(1)
	if err := c.put(context.Background(), 0, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if n := p.hold.Refused(); n != 0 {
		t.Fatalf("hold refused %d votes of a single-voter region", n)
	}
	// Again after a restart, with raft state on disk.
	p = c.restartStore(0).Peer(1)
	c.leader()
	if !p.IsLeader() {
		t.Fatal("restarted single voter does not lead")
	}
}
