package region

import (
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func TestRequestCommandsApply(t *testing.T) {
	f := newFixture(t)
	rc := reqCtx(f.r)
	cmds := []*flaredbv1.RaftCommand{
		BatchPutCommand(&flaredbv1.BatchPutRequest{Context: rc, Pairs: []*flaredbv1.KvPair{
			{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")},
			{Key: []byte("c"), Value: []byte("3")}, {Key: []byte("d"), Value: []byte("4")},
		}}),
		PutCommand(&flaredbv1.PutRequest{Context: rc, Key: []byte("e"), Value: []byte("5")}),
		DeleteCommand(&flaredbv1.DeleteRequest{Context: rc, Key: []byte("a")}),
		BatchDeleteCommand(&flaredbv1.BatchDeleteRequest{Context: rc, Keys: [][]byte{[]byte("b")}}),
		DeleteRangeCommand(&flaredbv1.DeleteRangeRequest{Context: rc, StartKey: []byte("d")}),
		CompareAndSwapCommand(&flaredbv1.CompareAndSwapRequest{Context: rc, Key: []byte("c"), Value: []byte("33"), PreviousValue: []byte("3")}),
	}
	for _, cmd := range cmds {
		if err := f.r.CheckCommand(cmd); err != nil {
			t.Fatal(err)
		}
		f.mustApply(f.r, cmd)
	}
	got := dump(t, f.r)
	if len(got) != 1 || string(got[0].Key) != "c" || string(got[0].Value) != "33" {
		t.Fatalf("after commands: %v", got)
	}
	bad := PutCommand(&flaredbv1.PutRequest{Context: &flaredbv1.Context{RegionId: 1}, Key: []byte("k")})
	wantIs(t, f.r.CheckCommand(bad), ErrMissingEpoch)
}
