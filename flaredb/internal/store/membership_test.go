package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func TestProvenStale(t *testing.T) {
	const local = 3 // the replica's conf_ver
	leader := func(confVer uint64, peers ...uint64) *flaredbv1.Region {
		r := &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: confVer, Version: 7}}
		for _, id := range peers {
			r.Peers = append(r.Peers, &flaredbv1.Peer{Id: id, StoreId: id % 10})
		}
		return r
	}
	other := leader(4, 12, 13)
	other.Id = 2
	for _, tc := range []struct {
		name   string
		local  uint64
		newID  uint64
		leader *flaredbv1.Region
		stale  string // "" if proven stale, else part of the reason
	}{
		{"removed, newer conf_ver", local, 20, leader(4, 12, 13), ""},
		{"never initialised (created at conf_ver 0)", 0, 20, leader(4, 12, 13), ""},
		{"no metadata", local, 20, nil, "no region metadata"},
		{"other region", local, 20, other, "of region 2"},
		{"still a member", local, 20, leader(4, 11, 12, 13), "still a member"},
		{"same conf_ver", local, 20, leader(3, 12, 13), "not newer"},
		{"older conf_ver", local, 20, leader(2, 12, 13), "not newer"},
		{"older new id", local, 5, leader(4, 12, 13), "peer id 5 is not newer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := provenStale(tc.local, 11, 1, tc.newID, tc.leader)
			if tc.stale == "" && err != nil {
				t.Fatalf("not proven stale: %v", err)
			}
			if tc.stale != "" && (err == nil || !strings.Contains(err.Error(), tc.stale)) {
				t.Fatalf("err = %v, want one saying %q", err, tc.stale)
			}
		})
	}
}

// staleStore is one store hosting region 1 as peer 11 over the whole key
// space (a replica that missed the region's splits) and region 2 as peer
// 21 over [k20, k30) (a split child PD has since given the store). Keys
// k00..k49 were written through region 1 ("old"), k20..k29 again through
// region 2 ("child").
func staleStore(t *testing.T) *Store {
	t.Helper()
	st := newStore(t)
	ctx := context.Background()
	epoch := &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1}
	parent := &flaredbv1.Region{Id: 1, Epoch: epoch, Peers: []*flaredbv1.Peer{{Id: 11, StoreId: 1}}}
	child := &flaredbv1.Region{Id: 2, StartKey: []byte("k20"), EndKey: []byte("k30"), Epoch: epoch,
		Peers: []*flaredbv1.Peer{{Id: 21, StoreId: 1}}}
	for _, meta := range []*flaredbv1.Region{parent, child} {
		if err := st.Bootstrap(ctx, meta); err != nil {
			t.Fatal(err)
		}
	}
	st.Run()
	put := func(regionID uint64, from, to int, val string) {
		rc := &flaredbv1.Context{RegionId: regionID, RegionEpoch: epoch}
		req := &flaredbv1.BatchPutRequest{Context: rc}
		for i := from; i < to; i++ {
			req.Pairs = append(req.Pairs, &flaredbv1.KvPair{Key: []byte(fmt.Sprintf("k%02d", i)), Value: []byte(val)})
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := st.Propose(ctx, rc, region.BatchPutCommand(req))
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("put through region %d: %v", regionID, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	put(1, 0, 50, "old")
	put(2, 20, 30, "child")
	return st
}

// checkStaleGone checks that region 1's data is gone except where region
// 2 holds the range, and that region 2 kept its values.
func checkStaleGone(t *testing.T, st *Store) {
	t.Helper()
	v := st.eng.NewSnapshot()
	defer func() { _ = v.Close() }()
	for i := range 50 {
		key := fmt.Sprintf("k%02d", i)
		val, ok, err := v.GetData([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		inChild := i >= 20 && i < 30
		if ok != inChild || (inChild && string(val) != "child") {
			t.Fatalf("%s = %q (present %v), want present only in the child's range, with its value", key, val, ok)
		}
	}
	rs, err := v.RegionState(1)
	if err != nil || rs.GetState() != flaredbv1.PeerState_PEER_STATE_TOMBSTONE {
		t.Fatalf("region 1 state = %v, %v; want a tombstone", rs, err)
	}
}

// checkNewEmptyPeer checks that region 1 is hosted as the new empty peer
// 30 with a fresh Raft group.
func checkNewEmptyPeer(t *testing.T, st *Store) {
	t.Helper()
	p := st.Peer(1)
	if p == nil || p.PeerID() != 30 || p.Region() != nil {
		t.Fatalf("region 1 replica = %v, want the empty peer 30", p)
	}
	if li := p.raft.LastIndex(); li != 0 {
		t.Fatalf("new peer's raft log ends at %d, want empty", li)
	}
	if c := p.raft.GetConfiguration(); c.Error() != nil || len(c.Configuration().Servers) != 0 {
		t.Fatalf("new peer's configuration = %v, %v; want none", c.Configuration(), c.Error())
	}
	if got := st.Peer(2); got == nil || got.PeerID() != 21 || got.Region() == nil {
		t.Fatalf("region 2 replica = %v", got)
	}
}

// TestCreatePeerReplacesProvenStaleReplica: a CreatePeer whose metadata
// does not prove the hosted replica stale is refused and changes nothing;
// one that does destroys it (keeping the overlapping child's data) and
// creates the new empty peer, and repeating it is a no-op.
func TestCreatePeerReplacesProvenStaleReplica(t *testing.T) {
	st := staleStore(t)
	ctx := context.Background()
	removed := &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 3, Version: 6},
		Peers: []*flaredbv1.Peer{{Id: 12, StoreId: 2}, {Id: 13, StoreId: 3}}}
	member := &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 3, Version: 6},
		Peers: []*flaredbv1.Peer{{Id: 11, StoreId: 1}, {Id: 12, StoreId: 2}}}
	sameConf := &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 6},
		Peers: []*flaredbv1.Peer{{Id: 12, StoreId: 2}, {Id: 13, StoreId: 3}}}
	otherRegion := &flaredbv1.Region{Id: 9, Epoch: removed.GetEpoch(), Peers: removed.GetPeers()}
	for _, tc := range []struct {
		name   string
		peerID uint64
		meta   *flaredbv1.Region
	}{
		{"no metadata", 30, nil},
		{"old peer still a member", 30, member},
		{"conf_ver not newer", 30, sameConf},
		{"another region's metadata", 30, otherRegion},
		{"older peer id", 5, removed},
	} {
		err := st.CreatePeer(ctx, 1, tc.peerID, tc.meta)
		if err == nil || !strings.Contains(err.Error(), "already hosts region 1 as peer 11") {
			t.Fatalf("%s: err = %v, want a refusal", tc.name, err)
		}
		if p := st.Peer(1); p == nil || p.PeerID() != 11 || p.Region() == nil {
			t.Fatalf("%s: region 1 replica changed: %v", tc.name, p)
		}
	}
	v := st.eng.NewSnapshot()
	if val, ok, _ := v.GetData([]byte("k05")); !ok || string(val) != "old" {
		t.Fatalf("refused requests touched the data: k05 = %q", val)
	}
	_ = v.Close()

	if err := st.CreatePeer(ctx, 1, 30, removed); err != nil {
		t.Fatalf("proven stale replica not replaced: %v", err)
	}
	checkNewEmptyPeer(t, st)
	checkStaleGone(t, st)
	if err := st.CreatePeer(ctx, 1, 30, removed); err != nil {
		t.Fatalf("repeated create: %v", err)
	}
	// Peer 30 never got its snapshot: the conf_ver it was created at (3)
	// stands in for its own.
	if err := st.CreatePeer(ctx, 1, 31, removed); err == nil {
		t.Fatal("a third peer id was accepted with metadata that does not prove peer 30 stale")
	}
	checkNewEmptyPeer(t, st)
	later := &flaredbv1.Region{Id: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 5, Version: 6}, Peers: removed.GetPeers()}
	if err := st.CreatePeer(ctx, 1, 31, later); err != nil {
		t.Fatalf("uninitialised peer 30 created at conf_ver 3 not replaced at conf_ver 5: %v", err)
	}
	if p := st.Peer(1); p == nil || p.PeerID() != 31 || p.Region() != nil {
		t.Fatalf("region 1 replica = %v, want the empty peer 31", p)
	}
	checkStaleGone(t, st)
}

// TestStaleReplacementFinishesAfterRestart: the store stopped right after
// CreatePeer wrote the new peer id but before it destroyed the stale
// replica (whose Raft log and state are still there). On restart the new
// id wins: the stale replica is destroyed (the child's data kept) and
// the new empty peer runs.
func TestStaleReplacementFinishesAfterRestart(t *testing.T) {
	st := staleStore(t)
	cfg := st.cfg
	cfg.RaftAddr = st.RaftAddr()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := writeFileSync(filepath.Join(cfg.DataDir, "regions", "1", peerIDFile), []byte("30")); err != nil {
		t.Fatal(err)
	}
	st, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	checkNewEmptyPeer(t, st)
	checkStaleGone(t, st)
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "regions", "1", "snapshots")); err == nil {
		ents, _ := os.ReadDir(filepath.Join(cfg.DataDir, "regions", "1", "snapshots"))
		if len(ents) > 0 {
			t.Fatalf("the stale replica's raft snapshots survived: %v", ents)
		}
	}
}
