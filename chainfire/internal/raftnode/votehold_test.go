package raftnode

import (
	"context"
	"testing"
	"time"

	"github.com/photoncloud/core/pkg/raftlease/raftleasetest"
)

// A follower restarted inside the old leader's lease holds its vote until
// that lease has ended (raftleasetest.CheckRestartedFollowerHold).
func TestRestartedFollowerHoldsVoteInsideLease(t *testing.T) {
	raftleasetest.CheckRestartedFollowerHold(t, testElectionTimeout, func() (raftleasetest.Group, int, func()) {
		c := newLeaseCluster(t, 3, false)
		ld := c.leader()
		c.put(ld, "k", "old")
		return c, ld, func() {
			for i, nd := range c.nodes {
				if nd != nil {
					_ = nd.Close()
					c.nodes[i] = nil
				}
			}
		}
	})
}

// A single member elects itself although its hold refuses every vote
// request: its vote for itself never crosses the transport.
func TestSingleVoterElectsItselfDuringHold(t *testing.T) {
	c := newLeaseCluster(t, 1, false)
	c.leader()
	c.put(0, "k", "v")
	if n := c.nodes[0].hold.Refused(); n != 0 {
		t.Fatalf("hold refused %d votes of a single voter", n)
	}
	// Again after a restart, with raft state on disk.
	c.restart(0)
	c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got, err := c.get(ctx, 0, "k"); err != nil || got != "v" {
		t.Fatalf("restarted single voter read %q, %v", got, err)
	}
}
