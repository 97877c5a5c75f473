package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// heartbeatTimeout is raft's current HeartbeatTimeout of store i's
// replica of region 1.
func (c *testCluster) heartbeatTimeout(i int) time.Duration {
	return c.stores[i].Peer(1).raft.ReloadableConfig().HeartbeatTimeout
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A leader that applies entries slows its heartbeats to busyFactor ×
// the election timeout; its followers keep theirs; lease reads still
// need no VerifyLeader rounds; a leader that steps down gets the
// configured timeout back.
func TestBusyLeaderSlowsHeartbeats(t *testing.T) {
	const et = 500 * time.Millisecond
	c := newTestCluster(t, 3, Config{ElectionTimeout: et})
	ld := c.leader()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writes := make(chan error, 1)
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			if err := c.put(ctx, ld, "w", fmt.Sprint(i)); err != nil && ctx.Err() == nil {
				writes <- err
				return
			}
		}
		writes <- nil
	}()
	waitUntil(t, "the busy leader slows its heartbeats", func() bool { return c.heartbeatTimeout(ld) > et })
	if got := c.heartbeatTimeout(ld); got != 2*et {
		t.Fatalf("busy leader's heartbeat timeout %v, want %v", got, 2*et)
	}
	for i := range c.stores {
		if i != ld && c.heartbeatTimeout(i) != et {
			t.Fatalf("follower %d runs with heartbeat timeout %v, want %v", i, c.heartbeatTimeout(i), et)
		}
	}
	if err := c.put(ctx, ld, "k", "v"); err != nil {
		t.Fatal(err)
	}
	var rounds, leaseReads uint64
	for range 100 {
		r, q := readRounds(t, c, ld, 1, "v")
		rounds, leaseReads = rounds+r, leaseReads+q
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("busy leader: 100 reads, %d rounds, %d lease reads", rounds, leaseReads)
	if leaseReads < 80 {
		t.Fatalf("busy leader served only %d of 100 reads by lease (%d rounds)", leaseReads, rounds)
	}
	if p := c.stores[ld].Peer(1); p.Quiescent() {
		t.Fatal("a busy leader counts as quiescent")
	}
	cancel()
	if err := <-writes; err != nil {
		t.Fatal(err)
	}
	if err := c.stores[ld].Peer(1).raft.LeadershipTransfer().Error(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the former leader restores its heartbeat timeout", func() bool { return c.heartbeatTimeout(ld) == et })
}
