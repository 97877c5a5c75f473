package downpeertest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/photoncloud/core/flaredb/client"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// TestStaleReplicaIsReplaced: store 3 is down while the first region
// splits twice and loses its peer on store 3 (the removal PD makes when
// the peer stays unreachable; the test makes it through the leader, as
// PD's timing for it depends on Raft's reconnect backoff). When store 3
// comes back it still hosts the region as the removed peer, stale and
// with its old range spanning the children. PD repairs the children on
// store 3 first (the test holds the parent's re-add back until then) and
// then re-adds the parent there under a new peer id: store 3 must destroy
// its stale replica without deleting the children's data and take the
// new peer. Every region ends with three healthy replicas and store 3's
// own copies hold every key.
func TestStaleReplicaIsReplaced(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chainfire, PD and three stores")
	}
	start := time.Now()
	ctx, c, cl := startReplicated(t, 3*time.Minute)
	const n = 240
	want := map[string][]byte{}
	put := func(round int) {
		t.Helper()
		var batch []client.KV
		for i := range n {
			batch = append(batch, client.KV{Key: key(i), Value: value(i, round)})
			want[string(key(i))] = value(i, round)
		}
		if err := cl.BatchPut(ctx, batch); err != nil {
			t.Fatalf("put round %d: %v", round, err)
		}
	}
	put(0)

	first := c.regions(ctx)[0].GetRegion()
	var old *flaredbv1.Peer
	for _, p := range first.GetPeers() {
		if p.GetStoreId() == 3 {
			old = p
		}
	}
	c.stop(3)
	var children []uint64
	for _, at := range []int{80, 160} { // the parent keeps the right part
		child, _ := c.split(string(key(at)))
		children = append(children, child.GetId())
	}
	removeAt := key(200)
	waitFor(t, 30*time.Second, "the parent's leader removes the peer on store 3", func() (bool, string) {
		st, r := c.leaderOf(removeAt)
		if st == nil {
			return false, "no leader"
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := st.ChangePeer(cctx, r.GetId(), &flaredbv1.ChangePeerOperator{Peer: old, Remove: true}); err != nil {
			return false, err.Error()
		}
		_, r = c.leaderOf(removeAt)
		return r != nil && len(r.GetPeers()) == 2, fmt.Sprintf("parent peers %v", r.GetPeers())
	})
	put(1)
	c.compact()

	// The parent's re-add reaches store 3 only once both children are
	// back there, so the stale parent's range overlaps them when it is
	// destroyed.
	st3Children := func() (bool, string) {
		st := c.liveStore(3)
		for _, id := range children {
			if p := st.Peer(id); p == nil || p.Region() == nil {
				return false, fmt.Sprintf("store 3 has no initialised replica of child %d", id)
			}
		}
		return true, ""
	}
	var held atomic.Int64
	c.mu.Lock()
	c.gate = func(storeID, regionID uint64) error {
		if storeID != 3 || regionID != first.GetId() {
			return nil
		}
		if ok, why := st3Children(); !ok {
			held.Add(1)
			return fmt.Errorf("held back by the test: %s", why)
		}
		return nil
	}
	c.mu.Unlock()

	restarted := time.Now()
	c.start(c.node(3))
	st3 := c.liveStore(3)
	if p := st3.Peer(first.GetId()); p == nil || p.PeerID() != old.GetId() {
		t.Fatalf("store 3 does not host the stale parent replica as peer %d: %v", old.GetId(), p)
	}
	childrenBack := waitFor(t, time.Minute, "children repaired on store 3", st3Children)
	repaired := waitFor(t, time.Minute, "every region back to three healthy replicas", func() (bool, string) {
		return c.replicated(ctx, 3)
	})
	p := st3.Peer(first.GetId())
	t.Logf("children back on store 3 %v after its restart; parent re-added (peer %d -> %d) %v later, %d create calls held back",
		childrenBack.Round(time.Millisecond), old.GetId(), p.PeerID(), repaired.Round(time.Millisecond), held.Load())
	if p.PeerID() <= old.GetId() {
		t.Fatalf("store 3 runs parent peer %d, want a new one", p.PeerID())
	}
	got, err := cl.BatchGet(ctx, func() [][]byte {
		var ks [][]byte
		for i := range n {
			ks = append(ks, key(i))
		}
		return ks
	}())
	if err != nil || len(got) != n {
		t.Fatalf("read %d of %d keys: %v", len(got), n, err)
	}
	checkReplicaData(t, c, 3, want)
	t.Logf("repaired %v after store 3 restarted; whole test %v", time.Since(restarted).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
