package store

import (
	"context"
	"testing"
	"time"

	"github.com/photoncloud/core/pkg/raftlease/raftleasetest"
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

// A replica restarted inside the old leader's lease holds its vote until
// that lease has ended (raftleasetest.CheckRestartedFollowerHold).
func TestRestartedFollowerHoldsVoteInsideLease(t *testing.T) {
	const et = 500 * time.Millisecond
	raftleasetest.CheckRestartedFollowerHold(t, et, func() (raftleasetest.Group, int, func()) {
		c := newTestCluster(t, 3, Config{ElectionTimeout: et})
		ld := c.leader()
		if err := c.put(context.Background(), ld, "k", "old"); err != nil {
			t.Fatal(err)
		}
		return c, ld, func() {
			c.partition(ld, false)
			for _, st := range c.stores {
				_ = st.Close()
			}
		}
	})
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
