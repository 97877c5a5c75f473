package pd

import (
	"errors"
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func region(id uint64, start, end string, confVer, version uint64, stores ...uint64) *flaredbv1.Region {
	r := &flaredbv1.Region{Id: id, StartKey: []byte(start), EndKey: []byte(end), Epoch: &flaredbv1.RegionEpoch{ConfVer: confVer, Version: version}}
	for i, s := range stores {
		r.Peers = append(r.Peers, &flaredbv1.Peer{Id: id*100 + uint64(i) + 1, StoreId: s, Role: flaredbv1.PeerRole_PEER_ROLE_VOTER})
	}
	return r
}

func mustUpdate(t *testing.T, tr *regionTree, r *flaredbv1.Region) {
	t.Helper()
	replaced, err := tr.checkUpdate(r)
	if err != nil {
		t.Fatalf("update region %d: %v", r.GetId(), err)
	}
	tr.apply(&flaredbv1.RegionInfo{Region: r, Leader: r.GetPeers()[0]}, replaced)
}

func ids(infos []*flaredbv1.RegionInfo) []uint64 {
	var out []uint64
	for _, i := range infos {
		out = append(out, i.GetRegion().GetId())
	}
	return out
}

func TestRegionTreeLocate(t *testing.T) {
	tr := newRegionTree()
	mustUpdate(t, tr, region(1, "", "g", 1, 3, 1))
	mustUpdate(t, tr, region(2, "g", "p", 1, 3, 1))
	mustUpdate(t, tr, region(3, "p", "", 1, 3, 1))
	for key, want := range map[string]uint64{"": 1, "a": 1, "f\xff": 1, "g": 2, "o": 2, "p": 3, "zzz": 3} {
		if got := tr.locate([]byte(key)).GetRegion().GetId(); got != want {
			t.Errorf("locate(%q) = %d, want %d", key, got, want)
		}
	}
	for key, want := range map[string]uint64{"": 3, "zzz": 3, "p": 2, "g\x00": 2, "g": 1, "a": 1} {
		if got := tr.locateBefore([]byte(key)).GetRegion().GetId(); got != want {
			t.Errorf("locateBefore(%q) = %d, want %d", key, got, want)
		}
	}
	if got := ids(tr.scan([]byte("h"), []byte("q"), 0)); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Errorf("scan [h,q) = %v, want [2 3]", got)
	}
	if got := ids(tr.scan(nil, nil, 2)); len(got) != 2 || got[0] != 1 {
		t.Errorf("scan limit 2 = %v", got)
	}
}

func TestRegionTreeHole(t *testing.T) {
	tr := newRegionTree()
	mustUpdate(t, tr, region(2, "g", "p", 1, 3, 1))
	if r := tr.locate([]byte("a")); r != nil {
		t.Errorf("locate in a hole = %v, want nil", r)
	}
	if r := tr.locateBefore([]byte("g")); r != nil {
		t.Errorf("locateBefore at a hole = %v, want nil", r)
	}
	if r := tr.locateBefore([]byte("z")); r != nil {
		t.Errorf("locateBefore past a hole = %v, want nil", r)
	}
}

// TestRegionTreeEpochRules follows TiKV's rules: for one region id a lower
// version, or an equal version and lower conf_ver, is stale; a region
// overlapping one with a higher version is stale; newer ones replace
// everything they overlap.
func TestRegionTreeEpochRules(t *testing.T) {
	tr := newRegionTree()
	mustUpdate(t, tr, region(1, "", "", 2, 1, 1, 2, 3))
	// Split: child 5 takes [,m), parent 1 keeps [m,); both version 2.
	mustUpdate(t, tr, region(5, "", "m", 2, 2, 1, 2, 3))
	if got := ids(tr.all()); len(got) != 1 || got[0] != 5 {
		t.Fatalf("after child heartbeat: %v, want the child replacing its overlapped parent", got)
	}
	for name, r := range map[string]*flaredbv1.Region{
		"pre-split parent":          region(1, "", "", 2, 1, 1, 2, 3),
		"lower conf_ver same id":    region(5, "", "m", 1, 2, 1, 2),
		"lower version same id":     region(5, "", "m", 9, 1, 1, 2, 3),
		"overlaps a higher version": region(7, "a", "c", 9, 1, 1),
	} {
		if _, err := tr.checkUpdate(r); !errors.Is(err, errStale) {
			t.Errorf("%s: checkUpdate = %v, want errStale", name, err)
		}
	}
	mustUpdate(t, tr, region(1, "m", "", 2, 2, 1, 2, 3))
	// A membership change: same version, higher conf_ver wins.
	mustUpdate(t, tr, region(1, "m", "", 3, 2, 1, 2))
	if got := tr.get(1).GetRegion().GetEpoch().GetConfVer(); got != 3 {
		t.Errorf("conf_ver after change = %d, want 3", got)
	}
	if got := tr.peers[3]; got != 1 {
		t.Errorf("peers on store 3 = %d, want 1 (region 5 only)", got)
	}
	if got := ids(tr.all()); len(got) != 2 || got[0] != 5 || got[1] != 1 {
		t.Errorf("table = %v, want [5 1]", got)
	}
}

func TestRegionTreeRejectsBadRegions(t *testing.T) {
	tr := newRegionTree()
	bad := []*flaredbv1.Region{
		nil,
		{Id: 0, Epoch: &flaredbv1.RegionEpoch{}},
		region(1, "b", "a", 1, 1, 1),
		region(1, "", "", 1, 1),
		region(1, "", "", 1, 1, 1, 1),
		{Id: 1, Peers: region(1, "", "", 1, 1, 1).GetPeers()},
	}
	for i, r := range bad {
		if _, err := tr.checkUpdate(r); err == nil || errors.Is(err, errStale) {
			t.Errorf("bad region %d: checkUpdate = %v, want a validation error", i, err)
		}
	}
}
