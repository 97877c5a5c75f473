package kvservice

import (
	"testing"
	"time"

	"github.com/photoncloud/core/flaredb/internal/store"
)

// TestIdleLeaderQuiescesKeepsLeadershipAndWakes: a region that applies
// nothing for QuiesceAfter has its leader slow its heartbeats; the region
// keeps its leader (no election while quiet: followers' timeouts are
// unchanged and the slower heartbeats stay under them), the first write
// wakes it, and an unchanged region reports to PD only every few
// intervals.
func TestIdleLeaderQuiescesKeepsLeadershipAndWakes(t *testing.T) {
	c := newCluster(t, 3, store.Config{QuiesceAfter: time.Second, RegionHeartbeatInterval: 50 * time.Millisecond}, true)
	if err := c.put(key(1), val(1)); err != nil {
		t.Fatal(err)
	}
	leader := func() *store.Peer {
		nd, _ := c.leaderFor(key(1))
		if nd == nil {
			return nil
		}
		return nd.st.Peer(1)
	}
	waitFor(t, "the idle leader quiesces", func() bool { p := leader(); return p != nil && p.Quiescent() })
	p := leader()
	term := p.Status().GetAppliedTerm()
	c.pd.mu.Lock()
	beats := c.pd.beats[1]
	c.pd.mu.Unlock()

	// Three seconds quiet: six election timeouts, sixty heartbeat intervals.
	time.Sleep(3 * time.Second)
	if q := leader(); q != p || !q.Quiescent() {
		t.Fatalf("the quiet region changed leader or woke up (leader now %v)", q)
	}
	c.pd.mu.Lock()
	beats = c.pd.beats[1] - beats
	c.pd.mu.Unlock()
	if beats > 20 {
		t.Fatalf("an unchanged region sent PD %d heartbeats in 60 intervals; want one in every %d", beats, 6)
	}

	if err := c.put(key(2), val(2)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a write wakes the leader", func() bool { return !p.Quiescent() })
	c.mustGet(t, key(2), val(2))
	if got := p.Status().GetAppliedTerm(); got != term {
		t.Fatalf("term moved from %d to %d across the quiet period", term, got)
	}
}
