package pd

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// checkerWorld is a replica checker's view built by hand: stores with
// their last heartbeat and start time, no Chainfire.
type checkerWorld struct {
	now    time.Time
	stores *storeSet
	loads  map[uint64]int
}

func newCheckerWorld() *checkerWorld {
	now := time.Unix(1_800_000_000, 0)
	return &checkerWorld{now: now, stores: newStoreSet(now.Add(-time.Hour)), loads: map[uint64]int{}}
}

// store registers an up store that last heartbeated ago and started
// upFor before that heartbeat.
func (w *checkerWorld) store(id uint64, ago, upFor time.Duration) {
	w.stores.put(withState(store(id), flaredbv1.StoreState_STORE_STATE_UP))
	st := w.stores.get(id)
	st.lastHeartbeat = w.now.Add(-ago)
	st.startedAt = st.lastHeartbeat.Add(-upFor)
}

func (w *checkerWorld) placement() placement {
	return placement{
		maxReplicas: 3, now: w.now, downAfter: 30 * time.Minute, maxPeerDownTime: time.Minute,
		stores: w.stores, load: func(id uint64) int { return w.loads[id] },
	}
}

func voter(id, storeID uint64) *flaredbv1.Peer {
	return &flaredbv1.Peer{Id: id, StoreId: storeID, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER}
}

func regionWith(peers ...*flaredbv1.Peer) *flaredbv1.Region {
	return &flaredbv1.Region{Id: 7, Epoch: &flaredbv1.RegionEpoch{ConfVer: 3, Version: 4}, Peers: peers}
}

func downFor(p *flaredbv1.Peer, d time.Duration) []*flaredbv1.PeerStats {
	return []*flaredbv1.PeerStats{{Peer: p, DownMs: uint64(d.Milliseconds())}}
}

func wantNothing(t *testing.T, what string, got plan) {
	t.Helper()
	if got.op != nil || got.addStore != 0 {
		t.Fatalf("%s: checker planned %v / add on %d, want nothing", what, got.op, got.addStore)
	}
}

func wantRemove(t *testing.T, what string, got plan, peerID uint64) {
	t.Helper()
	if got.op == nil || !got.op.GetRemove() || got.op.GetPeer().GetId() != peerID {
		t.Fatalf("%s: checker planned %v / add on %d, want remove peer %d", what, got.op, got.addStore, peerID)
	}
}

// TestCheckerReplacesPeerMissingOnLiveStore is the missed-split case: the
// child region's leader cannot reach its peer on store 3, which is up.
// With every store already holding a peer, the checker removes the
// unreachable peer, then adds a new one on the store it freed.
func TestCheckerReplacesPeerMissingOnLiveStore(t *testing.T) {
	w := newCheckerWorld()
	for id := uint64(1); id <= 3; id++ {
		w.store(id, time.Second, time.Hour)
	}
	leader, missing := voter(11, 1), voter(13, 3)
	r := regionWith(leader, voter(12, 2), missing)
	p := w.placement()

	wantNothing(t, "no down peer", p.check(r, leader, nil))
	wantNothing(t, "down for less than max-peer-down-time", p.check(r, leader, downFor(missing, 30*time.Second)))
	got := p.check(r, leader, downFor(missing, 2*time.Minute))
	wantRemove(t, "down past max-peer-down-time", got, 13)

	// The leader applied the removal: two peers, store 3 free again.
	r = regionWith(leader, voter(12, 2))
	got = p.check(r, leader, nil)
	if got.addStore != 3 {
		t.Fatalf("after the removal the checker planned %v / add on %d, want add on store 3", got.op, got.addStore)
	}
}

// TestCheckerAddsBeforeRemovingWhenAStoreIsFree: with a fourth store free,
// the unreachable peer is replaced first and removed second, so the region
// never drops below three reachable replicas.
func TestCheckerAddsBeforeRemovingWhenAStoreIsFree(t *testing.T) {
	w := newCheckerWorld()
	for id := uint64(1); id <= 4; id++ {
		w.store(id, time.Second, time.Hour)
	}
	leader, missing := voter(11, 1), voter(13, 3)
	p := w.placement()
	got := p.check(regionWith(leader, voter(12, 2), missing), leader, downFor(missing, 2*time.Minute))
	if got.op != nil || got.addStore != 4 {
		t.Fatalf("checker planned %v / add on %d, want add on store 4", got.op, got.addStore)
	}
	r := regionWith(leader, voter(12, 2), missing, voter(14, 4))
	wantRemove(t, "after the replacement", p.check(r, leader, downFor(missing, 3*time.Minute)), 13)
}

// TestCheckerLeavesDownPeersAloneUnlessTheirStoreStaysUp: the leader's
// report alone is not enough, the peer must have been unreachable for
// --max-peer-down-time while its store was up. A peer that went down with
// its store is the store-down rules' business (replaced after
// --max-store-down-time), and a store that has only just restarted gets
// its peers reconnected, so neither is removed however long the leader
// has missed the peer.
func TestCheckerLeavesDownPeersAloneUnlessTheirStoreStaysUp(t *testing.T) {
	leader, peer3 := voter(11, 1), voter(13, 3)
	r := regionWith(leader, voter(12, 2), peer3)
	cases := []struct {
		name             string
		ago, upFor, down time.Duration
	}{
		{"store silent for 5 minutes", 5 * time.Minute, time.Hour, 5*time.Minute + 10*time.Second},
		{"store restarted 10 seconds ago", time.Second, 10 * time.Second, 20 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newCheckerWorld()
			w.store(1, time.Second, time.Hour)
			w.store(2, time.Second, time.Hour)
			w.store(3, tc.ago, tc.upFor)
			wantNothing(t, tc.name, w.placement().check(r, leader, downFor(peer3, tc.down)))
		})
	}
	// A store never heard from since PD started is not known to be up.
	w := newCheckerWorld()
	w.store(1, time.Second, time.Hour)
	w.store(2, time.Second, time.Hour)
	w.stores.put(store(3))
	wantNothing(t, "store 3 never heartbeated", w.placement().check(r, leader, downFor(peer3, 20*time.Minute)))
}

// TestCheckerNeverRemovesTheLeader: a report naming the leader itself (it
// cannot happen, but PD must not trust it) changes nothing.
func TestCheckerNeverRemovesTheLeader(t *testing.T) {
	w := newCheckerWorld()
	for id := uint64(1); id <= 3; id++ {
		w.store(id, time.Second, time.Hour)
	}
	leader := voter(11, 1)
	wantNothing(t, "leader reported down", w.placement().check(regionWith(leader, voter(12, 2), voter(13, 3)), leader, downFor(leader, time.Hour)))
}

// TestRegionHeartbeatDownPeers runs the decision through PD: the down
// peers are visible in the routing table while reported, the removal and
// the re-add come as heartbeat answers, and down peers are never saved to
// Chainfire.
func TestRegionHeartbeatDownPeers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	c := f.open(Config{MaxPeerDownTime: time.Minute, Registerer: reg})
	first := bootstrap(t, c).GetRegion()
	beat := func() {
		for id := uint64(1); id <= 3; id++ {
			if err := c.StoreHeartbeat(ctx, store(id), &flaredbv1.StoreStats{StoreId: id, UptimeMs: uint64(time.Hour.Milliseconds())}); err != nil {
				t.Fatal(err)
			}
		}
	}
	beat()
	r := proto.CloneOf(first)
	r.Peers = append(r.Peers, voter(801, 2), voter(802, 3))
	r.Epoch.ConfVer += 2
	hb := func(down time.Duration) *flaredbv1.ChangePeerOperator {
		t.Helper()
		info := &flaredbv1.RegionInfo{Region: r, Leader: r.GetPeers()[0]}
		if down > 0 {
			info.DownPeers = downFor(r.GetPeers()[2], down)
		}
		op, err := c.RegionHeartbeat(ctx, info)
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	if op := hb(10 * time.Second); op != nil {
		t.Fatalf("peer down 10s got %v", op)
	}
	if got := c.RegionByID(r.GetId()).GetDownPeers(); len(got) != 1 || got[0].GetPeer().GetId() != 802 {
		t.Fatalf("routing table down peers = %v, want peer 802", got)
	}
	wantGauge(t, reg, "flaredb_pd_regions_down_peers", 1)
	if got := f.open(Config{}).RegionByID(r.GetId()).GetDownPeers(); len(got) != 0 {
		t.Fatalf("down peers were saved to Chainfire: %v", got)
	}
	f.clock.Advance(2 * time.Minute)
	beat()
	op := hb(2*time.Minute + 10*time.Second)
	if op == nil || !op.GetRemove() || op.GetPeer().GetId() != 802 {
		t.Fatalf("peer down past max-peer-down-time: checker answered %v, want remove peer 802", op)
	}
	r.Peers = r.Peers[:2]
	r.Epoch.ConfVer++
	op = hb(0)
	if op == nil || op.GetRemove() || op.GetPeer().GetStoreId() != 3 || op.GetPeer().GetId() == 802 {
		t.Fatalf("after the removal the checker answered %v, want a new peer on store 3", op)
	}
	if got := c.RegionByID(r.GetId()).GetDownPeers(); len(got) != 0 {
		t.Fatalf("down peers after a clean heartbeat = %v", got)
	}
	wantGauge(t, reg, "flaredb_pd_regions_down_peers", 0)
	wantGauge(t, reg, "flaredb_pd_regions_under_replicated", 1)
}

func wantGauge(t *testing.T, reg *prometheus.Registry, name string, want float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if got := mf.GetMetric()[0].GetGauge().GetValue(); got != want {
				t.Fatalf("%s = %v, want %v", name, got, want)
			}
			return
		}
	}
	t.Fatalf("%s not exported", name)
}
