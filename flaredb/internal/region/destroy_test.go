package region

import (
	"context"
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func TestDestroy(t *testing.T) {
	f := newFixture(t)
	f.putMany(f.r, 100)
	f.mustApply(f.r, splitCmd(header(f.r), keyN(50), 2, 21, 22, 23))
	rc := reqCtx(f.r)
	if err := f.r.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.rawGet(keyN(60)); ok {
		t.Fatal("destroy left data")
	}
	if _, ok := f.rawGet(keyN(10)); !ok {
		t.Fatal("destroy deleted the child's data")
	}
	_, _, err := f.r.Get(context.Background(), rc, []byte(keyN(60)))
	wantRegionError[*flaredbv1.RegionError_RegionNotFound](t, err)
	res := f.apply(f.r, putCmd(header(f.r), keyN(60), "v"))
	wantRegionError[*flaredbv1.RegionError_RegionNotFound](t, res.Err)

	f.reopen()
	if f.r.PeerState() != flaredbv1.PeerState_PEER_STATE_TOMBSTONE {
		t.Fatalf("state after reopen = %v", f.r.PeerState())
	}
	all, err := LoadAll(f.eng)
	if err != nil || len(all) != 1 || all[0].ID() != 2 {
		t.Fatalf("LoadAll after destroy = %d regions, %v", len(all), err)
	}
}

// A stale replica (it missed splits, so it still spans the whole key
// space) is destroyed on a store that has since been given two of the
// region's split children: their data stays, everything else of the old
// range goes.
func TestDestroyOutsideKeepsOtherRegions(t *testing.T) {
	f := newFixture(t)
	f.putMany(f.r, 100)
	child := func(id uint64, start, end string) *Replica {
		meta := &flaredbv1.Region{Id: id, StartKey: []byte(start), Epoch: &flaredbv1.RegionEpoch{ConfVer: 3, Version: 5},
			Peers: []*flaredbv1.Peer{{Id: id * 10, StoreId: 1}}}
		if end != "" {
			meta.EndKey = []byte(end)
		}
		r, err := Create(f.eng, meta)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	mid := child(7, keyN(20), keyN(30))
	f.mustApply(mid, putCmd(header(mid), keyN(25), "newer"))
	child(8, keyN(60), keyN(70))
	child(9, keyN(95), "")

	all, err := LoadAll(f.eng)
	if err != nil {
		t.Fatal(err)
	}
	var keep []*flaredbv1.Region
	for _, r := range all {
		keep = append(keep, r.Region()) // includes region 1 itself: ignored
	}
	if err := f.r.DestroyOutside(keep); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		v, ok := f.rawGet(keyN(i))
		kept := (i >= 20 && i < 30) || (i >= 60 && i < 70) || i >= 95
		if ok != kept {
			t.Fatalf("%s present = %v, want %v", keyN(i), ok, kept)
		}
		if i == 25 && v != "newer" {
			t.Fatalf("%s = %q, want the child's value", keyN(i), v)
		}
	}
	if f.r.PeerState() != flaredbv1.PeerState_PEER_STATE_TOMBSTONE {
		t.Fatalf("state = %v", f.r.PeerState())
	}
	f.reopen()
	if all, err = LoadAll(f.eng); err != nil || len(all) != 3 {
		t.Fatalf("LoadAll after destroy = %d regions, %v", len(all), err)
	}
}

func TestUncovered(t *testing.T) {
	s := func(a, b string) span { return span{start: []byte(a), end: []byte(b)} }
	for _, tc := range []struct {
		name  string
		in    span
		cover []span
		want  []span
	}{
		{"nothing covered", s("", ""), nil, []span{s("", "")}},
		{"middle", s("a", "z"), []span{s("c", "e")}, []span{s("a", "c"), s("e", "z")}},
		{"unsorted and overlapping", s("", ""), []span{s("m", "p"), s("c", "e"), s("d", "g")},
			[]span{s("", "c"), s("g", "m"), s("p", "")}},
		{"cover to the end", s("a", ""), []span{s("k", "")}, []span{s("a", "k")}},
		{"covered entirely", s("c", "f"), []span{s("a", "d"), s("d", "")}, nil},
		{"cover outside", s("c", "f"), []span{s("a", "b"), s("f", "h")}, []span{s("c", "f")}},
		{"cover straddles start", s("c", "f"), []span{s("a", "d")}, []span{s("d", "f")}},
		{"touching covers", s("a", "z"), []span{s("b", "c"), s("c", "d")}, []span{s("a", "b"), s("d", "z")}},
		{"empty cover ignored", s("a", "z"), []span{s("c", "c"), s("e", "d")}, []span{s("a", "z")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := uncovered(tc.in, tc.cover)
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if string(got[i].start) != string(tc.want[i].start) || string(got[i].end) != string(tc.want[i].end) {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}
