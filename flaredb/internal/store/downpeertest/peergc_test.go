package downpeertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/photoncloud/core/flaredb/client"
	"github.com/photoncloud/core/flaredb/internal/pd/pdapptest"
	"github.com/photoncloud/core/flaredb/internal/pd/pdtest"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// TestRemovedReplicaIsCollected: four stores, the first region on three
// of them. A follower's store goes down for longer than PD's
// --max-store-down-time, so PD adds a replacement on the fourth store and
// removes the down peer; the region never needs that store again. When
// the store comes back it still runs the removed replica: the leader no
// longer talks to it and it never applies its own removal. Peer GC must
// find it (no leader for PeerGCAfter, PD's region newer and without its
// peer) and destroy it, while the region keeps serving.
func TestRemovedReplicaIsCollected(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chainfire, PD and four stores")
	}
	cf := pdtest.StartChainfire(t)
	pdAddr := pdapptest.StartPD(t, cf.Endpoint, "--max-peer-down-time", maxPeerDownTime.String(),
		"--max-store-down-time", maxPeerDownTime.String())
	const gcAfter = 2 * time.Second
	c := newCluster(t, pdAddr, 4, func(c *cluster) { c.peerGCAfter = gcAfter })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitFor(t, time.Minute, "first region on three stores", func() (bool, string) { return c.replicated(ctx, 3) })
	cl, err := client.New([]string{pdAddr}, client.WithRetryBudget(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cl.Close() }()
	for i := range 50 {
		if err := cl.Put(ctx, key(i), value(i, 0)); err != nil {
			t.Fatalf("put: %v", err)
		}
	}

	leaderStore, r := c.leaderOf(key(0))
	if leaderStore == nil {
		t.Fatal("no leader for the first region")
	}
	var victim *flaredbv1.Peer
	for _, p := range r.GetPeers() {
		if p.GetStoreId() != leaderStore.StoreMeta().GetId() {
			victim = p
			break
		}
	}
	c.stop(victim.GetStoreId())
	waitFor(t, time.Minute, "PD replaces the down peer on the fourth store", func() (bool, string) {
		_, r := c.leaderOf(key(0))
		if r == nil {
			return false, "no leader"
		}
		for _, p := range r.GetPeers() {
			if p.GetStoreId() == victim.GetStoreId() {
				return false, fmt.Sprintf("peers %v", r.GetPeers())
			}
		}
		return c.replicated(ctx, 3)
	})

	c.start(c.node(victim.GetStoreId()))
	back := c.liveStore(victim.GetStoreId())
	if p := back.Peer(r.GetId()); p == nil || p.PeerID() != victim.GetId() {
		t.Fatalf("store %d does not run the removed peer %d after its restart: %v", victim.GetStoreId(), victim.GetId(), p)
	}
	collected := waitFor(t, time.Minute, "the removed replica destroyed", func() (bool, string) {
		if p := back.Peer(r.GetId()); p != nil {
			return false, fmt.Sprintf("store %d still runs peer %d", victim.GetStoreId(), p.PeerID())
		}
		return true, ""
	})
	if collected < gcAfter-500*time.Millisecond {
		t.Fatalf("replica destroyed %v after the restart, before PeerGCAfter (%v) without a leader", collected, gcAfter)
	}
	for i := range 50 {
		if err := cl.Put(ctx, key(i), value(i, 1)); err != nil {
			t.Fatalf("put after the collection: %v", err)
		}
	}
	if ok, why := c.replicated(ctx, 3); !ok {
		t.Fatalf("region after the collection: %s", why)
	}
	t.Logf("removed replica destroyed %v after its store came back", collected.Round(time.Millisecond))
}
