package region

import (
	"context"
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func TestApplyChecksEpochVersion(t *testing.T) {
	f := newFixture(t)
	stale := &flaredbv1.RaftCommandHeader{RegionId: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 0}}
	newer := &flaredbv1.RaftCommandHeader{RegionId: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 2}}
	for _, h := range []*flaredbv1.RaftCommandHeader{stale, newer} {
		res := f.apply(f.r, putCmd(h, "k", "bad"))
		enm := wantRegionError[*flaredbv1.RegionError_EpochNotMatch](t, res.Err)
		if cur := enm.EpochNotMatch.GetCurrentRegions(); len(cur) != 1 || cur[0].GetEpoch().GetVersion() != 1 {
			t.Fatalf("current regions = %v", cur)
		}
	}
	if _, ok := f.rawGet("k"); ok {
		t.Fatal("rejected write reached the engine")
	}
	f.mustApply(f.r, putCmd(header(f.r), "k", "good"))
	if v, _ := f.get(f.r, "k"); v != "good" {
		t.Fatalf("get = %q", v)
	}
	if idx, _ := f.r.Applied(); idx != 3 {
		t.Fatalf("applied = %d, want 3: rejected entries still advance the index", idx)
	}
}

func TestConfVerMattersOnlyForAdminCommands(t *testing.T) {
	f := newFixture(t)
	oldConf := &flaredbv1.RaftCommandHeader{RegionId: 1, Epoch: &flaredbv1.RegionEpoch{ConfVer: 0, Version: 1}}
	// A membership change moves no key, so a data write with an old
	// conf_ver is still correct.
	f.mustApply(f.r, putCmd(oldConf, "k", "v"))
	res := f.apply(f.r, splitCmd(oldConf, "m", 2, 21, 22, 23))
	wantRegionError[*flaredbv1.RegionError_EpochNotMatch](t, res.Err)
	res = f.apply(f.r, &flaredbv1.RaftCommand{Header: oldConf, Command: &flaredbv1.RaftCommand_ChangePeer{
		ChangePeer: &flaredbv1.ChangePeerCommand{ChangeType: flaredbv1.ChangePeerType_CHANGE_PEER_TYPE_ADD_LEARNER, Peer: &flaredbv1.Peer{Id: 14, StoreId: 4}},
	}})
	wantRegionError[*flaredbv1.RegionError_EpochNotMatch](t, res.Err)
	if got := f.r.Region(); len(got.GetPeers()) != 3 || len(got.GetStartKey()) != 0 || got.GetEpoch().GetConfVer() != 1 {
		t.Fatalf("region changed by rejected admin commands: %v", got)
	}
}

func TestRequestEpochChecks(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.r, putCmd(header(f.r), "k", "v"))
	ctx := context.Background()
	stale := &flaredbv1.Context{RegionId: 1, RegionEpoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 0}}
	_, _, err := f.r.Get(ctx, stale, []byte("k"))
	wantRegionError[*flaredbv1.RegionError_EpochNotMatch](t, err)
	_, err = f.r.Scan(ctx, stale, ScanOptions{})
	wantRegionError[*flaredbv1.RegionError_EpochNotMatch](t, err)
	_, err = f.r.BatchGet(ctx, stale, [][]byte{[]byte("k")})
	wantRegionError[*flaredbv1.RegionError_EpochNotMatch](t, err)

	_, _, err = f.r.Get(ctx, &flaredbv1.Context{RegionId: 1}, []byte("k"))
	wantIs(t, err, ErrMissingEpoch)
	_, _, err = f.r.Get(ctx, &flaredbv1.Context{RegionId: 9, RegionEpoch: epochOf(f.r)}, []byte("k"))
	if nf := wantRegionError[*flaredbv1.RegionError_RegionNotFound](t, err); nf.RegionNotFound.GetRegionId() != 9 {
		t.Fatalf("region not found = %v", nf)
	}
	if v, ok := f.get(f.r, "k"); !ok || v != "v" {
		t.Fatalf("get with current epoch = %q %v", v, ok)
	}
}

func TestApplyRejectsWrongRegionAndMissingHeader(t *testing.T) {
	f := newFixture(t)
	res := f.apply(f.r, putCmd(&flaredbv1.RaftCommandHeader{RegionId: 2, Epoch: epochOf(f.r)}, "k", "v"))
	wantRegionError[*flaredbv1.RegionError_RegionNotFound](t, res.Err)
	res = f.apply(f.r, putCmd(nil, "k", "v"))
	wantIs(t, res.Err, ErrInvalidCommand)
	res = f.apply(f.r, &flaredbv1.RaftCommand{Header: header(f.r)})
	wantIs(t, res.Err, ErrInvalidCommand)
	if _, ok := f.rawGet("k"); ok {
		t.Fatal("rejected write reached the engine")
	}
}
