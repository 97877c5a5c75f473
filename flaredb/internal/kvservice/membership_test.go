package kvservice

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/photoncloud/core/flaredb/internal/store"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// TestReplicaCheckerGrowsSingleReplicaRegion starts the cluster the way a
// real one starts (one region with one replica on the first store), lets
// PD's heartbeat answers add a peer on each other store, and checks the
// new replicas got the data by snapshot, then survive the first store's
// loss.
func TestReplicaCheckerGrowsSingleReplicaRegion(t *testing.T) {
	c := newCluster(t, 3, store.Config{RegionHeartbeatInterval: 100 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond}, false)
	meta := &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1},
		Peers: []*flaredbv1.Peer{{Id: 101, StoreId: 1, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER}}}
	if err := c.list()[0].st.Bootstrap(context.Background(), meta); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if err := c.put(key(i), val(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, add := range []*flaredbv1.Peer{{Id: 102, StoreId: 2, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER}, {Id: 103, StoreId: 3, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER}} {
		c.pd.mu.Lock()
		c.pd.ops[1] = &flaredbv1.ChangePeerOperator{Peer: add}
		c.pd.mu.Unlock()
		nd := c.list()[add.GetStoreId()-1]
		waitFor(t, "new replica has the data", func() bool {
			v, ok := replicaValue(nd.st, key(49))
			return ok && bytes.Equal(v, val(49))
		})
		waitFor(t, "region metadata lists the new peer", func() bool {
			_, r := c.leaderFor(key(0))
			for _, p := range r.GetPeers() {
				if p.GetId() == add.GetId() {
					return true
				}
			}
			return false
		})
	}
	_, r := c.leaderFor(key(0))
	if len(r.GetPeers()) != 3 || r.GetEpoch().GetConfVer() != 3 {
		t.Fatalf("region after two adds: %v", r)
	}
	if err := c.put(key(50), val(50)); err != nil {
		t.Fatal(err)
	}
	c.stop(1)
	for i := 0; i <= 50; i++ {
		c.mustGet(t, key(i), val(i))
	}
}

// TestEmptyPeerSurvivesRestart: a replica created empty for a peer being
// added is still there (same peer id, waiting for its snapshot) after the
// store restarts, and creating it again is a no-op while a different peer
// id for the same region is refused.
func TestEmptyPeerSurvivesRestart(t *testing.T) {
	c := newCluster(t, 1, store.Config{}, false)
	st := c.list()[0].st
	if err := st.CreatePeer(context.Background(), 77, 770, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePeer(context.Background(), 77, 770, nil); err != nil {
		t.Fatalf("repeated create: %v", err)
	}
	if err := st.CreatePeer(context.Background(), 77, 771, nil); err == nil {
		t.Fatal("a second peer id for the same region was accepted")
	}
	c.stop(1)
	c.start(c.list()[0])
	p := c.list()[0].st.Peer(77)
	if p == nil || p.PeerID() != 770 || p.Region() != nil {
		t.Fatalf("after restart: %v", p)
	}
}
