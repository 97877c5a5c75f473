package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/photoncloud/core/pkg/raftlease/raftleasetest"
)

// readRounds does n linearizable reads on store i and returns how many
// VerifyLeader rounds and lease reads they cost.
func readRounds(t *testing.T, c *testCluster, i, n int, want string) (rounds, leaseReads uint64) {
	t.Helper()
	p := c.stores[i].Peer(1)
	q0, r0 := p.LeaseStats()
	for range n {
		got, err := c.get(context.Background(), i, "k")
		if err != nil || got != want {
			t.Fatalf("get = %q, %v; want %q", got, err, want)
		}
	}
	q1, r1 := p.LeaseStats()
	return r1 - r0, q1 - q0
}

func TestLeaseReadsSkipVerifyLeader(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		t.Run(fmt.Sprintf("disabled=%v", disabled), func(t *testing.T) {
			c := newTestCluster(t, 3, Config{DisableLeaseRead: disabled})
			ld := c.leader()
			if err := c.put(context.Background(), ld, "k", "v"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.get(context.Background(), ld, "k"); err != nil { // warm up
				t.Fatal(err)
			}
			const n = 300
			rounds, leaseReads := readRounds(t, c, ld, n, "v")
			raftleasetest.CheckReadCost(t, disabled, n, rounds, leaseReads)
		})
	}
}

// A quiescent leader (slower heartbeats) keeps its lease: its followers'
// timing does not change, and reads apply nothing, so it stays quiescent.
func TestLeaseReadsOnQuiescentLeader(t *testing.T) {
	c := newTestCluster(t, 3, Config{QuiesceAfter: 300 * time.Millisecond})
	ld := c.leader()
	if err := c.put(context.Background(), ld, "k", "v"); err != nil {
		t.Fatal(err)
	}
	p := c.stores[ld].Peer(1)
	deadline := time.Now().Add(10 * time.Second)
	for !p.Quiescent() {
		if time.Now().After(deadline) {
			t.Fatal("leader did not quiesce")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var rounds, leaseReads uint64
	for range 100 {
		r, q := readRounds(t, c, ld, 1, "v")
		rounds, leaseReads = rounds+r, leaseReads+q
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("quiescent: 100 reads, %d rounds, %d lease reads", rounds, leaseReads)
	if leaseReads < 80 {
		t.Fatalf("quiescent leader served only %d of 100 reads by lease (%d rounds)", leaseReads, rounds)
	}
	if !p.Quiescent() {
		t.Fatal("lease reads woke the quiescent leader")
	}
}

func TestLeaseReadSeesWrite(t *testing.T) {
	c := newTestCluster(t, 3, Config{})
	ld := c.leader()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("key-%d", w)
			for i := range 100 {
				val := fmt.Sprint(i)
				if err := c.put(ctx, ld, key, val); err != nil {
					errs <- err
					return
				}
				if got, err := c.get(ctx, ld, key); err != nil || got != val {
					errs <- fmt.Errorf("%s: read %q, %v after writing %q", key, got, err, val)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if q, _ := c.stores[ld].Peer(1).LeaseStats(); q == 0 {
		t.Fatal("no read used the lease")
	}
}

func TestLeadershipTransferEndsLease(t *testing.T) {
	c := newTestCluster(t, 3, Config{})
	ld := c.leader()
	if err := c.put(context.Background(), ld, "k", "v"); err != nil {
		t.Fatal(err)
	}
	raftleasetest.CheckTransferEndsLease(t, c.Replica(ld))
	nl := c.leader(ld)
	if got, err := c.get(context.Background(), nl, "k"); err != nil || got != "v" {
		t.Fatalf("new leader read %q, %v", got, err)
	}
}

// BenchmarkLeaseRead is the leader-side cost of the lease check of one
// read (leader state, term, configuration, quorum of acks, commit index).
func BenchmarkLeaseRead(b *testing.B) {
	c := newTestCluster(b, 3, Config{})
	p := c.stores[c.leader()].Peer(1)
	b.ResetTimer()
	for range b.N {
		if _, ok := p.leaseRead(); !ok {
			b.Fatal("no lease")
		}
	}
}
