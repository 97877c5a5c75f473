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
