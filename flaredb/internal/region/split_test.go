package region

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func TestSplitBookkeeping(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.r, putCmd(header(f.r), "a", "1", "m", "2", "z", "3"))
	res := f.mustApply(f.r, splitCmd(header(f.r), "m", 2, 21, 22, 23))
	sp := res.Split
	if sp == nil || !sp.ChildCreated {
		t.Fatalf("split result = %+v", sp)
	}
	// Right-derive: the parent keeps [m, ""), the child takes ["", m).
	parent := f.r.Region()
	if string(parent.GetStartKey()) != "m" || len(parent.GetEndKey()) != 0 || parent.GetEpoch().GetVersion() != 2 || parent.GetEpoch().GetConfVer() != 1 {
		t.Fatalf("parent after split = %v", parent)
	}
	child := sp.Child
	if child.GetId() != 2 || len(child.GetStartKey()) != 0 || string(child.GetEndKey()) != "m" || child.GetEpoch().GetVersion() != 2 || child.GetEpoch().GetConfVer() != 1 {
		t.Fatalf("child = %v", child)
	}
	for i, p := range child.GetPeers() {
		if p.GetId() != uint64(21+i) || p.GetStoreId() != parent.GetPeers()[i].GetStoreId() {
			t.Fatalf("child peer %d = %v", i, p)
		}
	}
	c, err := Open(f.eng, 2)
	if err != nil {
		t.Fatal(err)
	}
	if idx, _ := c.Applied(); idx != InitialAppliedIndex {
		t.Fatalf("child applied = %d", idx)
	}
	// No data moved: each region reads its own part, and only its part.
	if v, _ := f.get(c, "a"); v != "1" {
		t.Fatalf("child get a = %q", v)
	}
	if v, _ := f.get(f.r, "z"); v != "3" {
		t.Fatalf("parent get z = %q", v)
	}
	_, _, err = f.r.Get(context.Background(), reqCtx(f.r), []byte("a"))
	wantRegionError[*flaredbv1.RegionError_KeyNotInRegion](t, err)
	_, _, err = c.Get(context.Background(), reqCtx(c), []byte("m"))
	wantRegionError[*flaredbv1.RegionError_KeyNotInRegion](t, err)

	// Both survive a restart.
	f.reopen()
	all, err := LoadAll(f.eng)
	if err != nil || len(all) != 2 {
		t.Fatalf("LoadAll = %d regions, %v", len(all), err)
	}
	if string(all[0].Region().GetStartKey()) != "m" || string(all[1].Region().GetEndKey()) != "m" {
		t.Fatalf("reloaded = %v / %v", all[0].Region(), all[1].Region())
	}
}

func TestWriteRacingSplitRejectedAtApply(t *testing.T) {
	f := newFixture(t)
	proposedBefore := header(f.r) // a write proposed before the split...
	f.mustApply(f.r, splitCmd(header(f.r), "m", 2, 21, 22, 23))
	// ...and committed after it: it must not write "a", now region 2's.
	res := f.apply(f.r, putCmd(proposedBefore, "a", "lost", "n", "x"))
	wantRegionError[*flaredbv1.RegionError_EpochNotMatch](t, res.Err)
	if _, ok := f.rawGet("a"); ok {
		t.Fatal("racing write put a key into the child's range")
	}
	if _, ok := f.rawGet("n"); ok {
		t.Fatal("rejected batch was partly written")
	}
	// Even with the new epoch, a key of the child is not the parent's.
	res = f.apply(f.r, putCmd(header(f.r), "a", "x"))
	knr := wantRegionError[*flaredbv1.RegionError_KeyNotInRegion](t, res.Err)
	if string(knr.KeyNotInRegion.GetKey()) != "a" || string(knr.KeyNotInRegion.GetStartKey()) != "m" {
		t.Fatalf("key not in region = %v", knr)
	}
}

func TestSplitAndRacingWriteInOneBatch(t *testing.T) {
	f := newFixture(t)
	h := header(f.r)
	res, err := f.r.ApplyBatch([]Entry{
		{Index: 1, Term: 1, Command: putCmd(h, "a", "before")},
		{Index: 2, Term: 1, Command: splitCmd(h, "m", 2, 21, 22, 23)},
		{Index: 3, Term: 1, Command: putCmd(h, "b", "after")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("results = %+v", res)
	}
	wantRegionError[*flaredbv1.RegionError_EpochNotMatch](t, res[2].Err)
	if v, _ := f.rawGet("a"); v != "before" {
		t.Fatalf("a = %q", v)
	}
	if _, ok := f.rawGet("b"); ok {
		t.Fatal("write after split in the same batch was applied")
	}
	if idx, _ := f.r.Applied(); idx != 3 {
		t.Fatalf("applied = %d", idx)
	}
}

func TestSplitRejectsBadCommands(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.r, splitCmd(header(f.r), "m", 2, 21, 22, 23))
	cases := []struct {
		name string
		cmd  *flaredbv1.RaftCommand
	}{
		{"key outside", splitCmd(header(f.r), "a", 3, 31, 32, 33)},
		{"start key", splitCmd(header(f.r), "m", 3, 31, 32, 33)},
		{"empty key", splitCmd(header(f.r), "", 3, 31, 32, 33)},
		{"peer count", splitCmd(header(f.r), "p", 3, 31, 32)},
		{"duplicate peer", splitCmd(header(f.r), "p", 3, 31, 31, 33)},
		{"zero region", splitCmd(header(f.r), "p", 0, 31, 32, 33)},
		{"own id", splitCmd(header(f.r), "p", 1, 31, 32, 33)},
		{"stale epoch", splitCmd(&flaredbv1.RaftCommandHeader{RegionId: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1}}, "p", 3, 31, 32, 33)},
	}
	for _, tc := range cases {
		if res := f.apply(f.r, tc.cmd); res.Err == nil {
			t.Fatalf("%s: split accepted", tc.name)
		}
	}
	if got := f.r.Region(); string(got.GetStartKey()) != "m" || got.GetEpoch().GetVersion() != 2 {
		t.Fatalf("region changed by rejected splits: %v", got)
	}
	if _, err := Open(f.eng, 3); err == nil {
		t.Fatal("rejected split created a region")
	}
}

func TestManySplitsPartitionKeySpace(t *testing.T) {
	f := newFixture(t)
	f.putMany(f.r, 500)
	var regions []*Replica
	for i := 1; i <= 9; i++ {
		// Right-derive: each split cuts a child off the parent's left.
		key := fmt.Sprintf("key%05d", i*50)
		res := f.mustApply(f.r, splitCmd(header(f.r), key, uint64(100+i), 1, 2, 3))
		c, err := Open(f.eng, res.Split.Child.GetId())
		if err != nil {
			t.Fatal(err)
		}
		regions = append(regions, c)
	}
	if v := f.r.Region().GetEpoch().GetVersion(); v != 10 {
		t.Fatalf("parent version = %d", v)
	}
	regions = append(regions, f.r)
	var all [][]byte
	for i := range regions {
		kvs, err := regions[i].Scan(context.Background(), reqCtx(regions[i]), ScanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(kvs) != 50 {
			t.Fatalf("region %d holds %d keys", regions[i].ID(), len(kvs))
		}
		for _, kv := range kvs {
			all = append(all, kv.Key)
		}
	}
	for i := 1; i < len(all); i++ {
		if bytes.Compare(all[i-1], all[i]) >= 0 {
			t.Fatalf("keys out of order or duplicated at %d: %q %q", i, all[i-1], all[i])
		}
	}
}

func TestSplitKeepsChildAlreadyOnStore(t *testing.T) {
	f := newFixture(t)
	// This replica lagged: the child's own leader already sent this store a
	// snapshot of region 2, whose epoch has moved on.
	ahead := &flaredbv1.Region{Id: 2, EndKey: []byte("m"), Epoch: &flaredbv1.RegionEpoch{ConfVer: 2, Version: 5}}
	if _, err := Create(f.eng, ahead); err != nil {
		t.Fatal(err)
	}
	res := f.mustApply(f.r, splitCmd(header(f.r), "m", 2, 21, 22, 23))
	if res.Split.ChildCreated {
		t.Fatal("split overwrote a child already on the store")
	}
	c, err := Open(f.eng, 2)
	if err != nil || c.Region().GetEpoch().GetVersion() != 5 {
		t.Fatalf("child = %v, %v", c.Region(), err)
	}
	if string(f.r.Region().GetStartKey()) != "m" {
		t.Fatalf("parent = %v", f.r.Region())
	}
}
