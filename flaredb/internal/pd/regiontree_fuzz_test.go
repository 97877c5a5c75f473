package pd

import (
	"bytes"
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// FuzzRegionTree applies arbitrary region updates (decoded from the input,
// 6 bytes each: id, start, end, conf_ver, version, store) and checks the
// routing table's invariants after each accepted one: ranges sorted and
// disjoint, the id index and the B-tree agree, per-store counts match, and
// the accepted region is what lookups now return.
func FuzzRegionTree(f *testing.F) {
	f.Add([]byte{1, 0, 0, 1, 1, 1, 2, 0, 'm', 1, 2, 1, 1, 'm', 0, 1, 2, 2})
	f.Add([]byte{1, 'a', 'z', 1, 1, 1, 1, 'a', 'z', 1, 1, 2, 3, 'c', 'd', 2, 1, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := newRegionTree()
		for len(data) >= 6 {
			op := data[:6]
			data = data[6:]
			r := &flaredbv1.Region{
				Id:    uint64(op[0]%8) + 1,
				Epoch: &flaredbv1.RegionEpoch{ConfVer: uint64(op[3] % 4), Version: uint64(op[4] % 4)},
				Peers: []*flaredbv1.Peer{{Id: uint64(op[0]) + 100, StoreId: uint64(op[5]%3) + 1}},
			}
			if op[1] != 0 {
				r.StartKey = []byte{op[1]}
			}
			if op[2] != 0 {
				r.EndKey = []byte{op[2]}
			}
			replaced, err := tr.checkUpdate(r)
			if err != nil {
				continue
			}
			info := &flaredbv1.RegionInfo{Region: r, Leader: r.GetPeers()[0]}
			tr.apply(info, replaced)
			if got := tr.locate(r.GetStartKey()); got != info {
				t.Fatalf("after accepting region %v, its start key routes to %v", r, got)
			}
			checkTreeInvariants(t, tr)
		}
	})
}

func checkTreeInvariants(t *testing.T, tr *regionTree) {
	t.Helper()
	all := tr.all()
	if len(all) != len(tr.byID) {
		t.Fatalf("B-tree holds %d regions, id index %d", len(all), len(tr.byID))
	}
	peers, leaders := map[uint64]int{}, map[uint64]int{}
	for i, r := range all {
		if tr.byID[r.GetRegion().GetId()] != r {
			t.Fatalf("region %d in the B-tree is not the one indexed by id", r.GetRegion().GetId())
		}
		if i > 0 {
			prev := all[i-1].GetRegion()
			if len(prev.GetEndKey()) == 0 || bytes.Compare(prev.GetEndKey(), r.GetRegion().GetStartKey()) > 0 {
				t.Fatalf("regions overlap: %v and %v", prev, r.GetRegion())
			}
		}
		for _, p := range r.GetRegion().GetPeers() {
			peers[p.GetStoreId()]++
		}
		leaders[r.GetLeader().GetStoreId()]++
	}
	for s := uint64(1); s <= 3; s++ {
		if peers[s] != tr.peers[s] || leaders[s] != tr.leaders[s] {
			t.Fatalf("store %d: counted %d peers/%d leaders, table says %d/%d", s, peers[s], leaders[s], tr.peers[s], tr.leaders[s])
		}
	}
}
