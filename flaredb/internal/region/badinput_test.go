package region

import (
	"bytes"
	"context"
	"errors"
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func TestBadInputRejectedNothingWritten(t *testing.T) {
	f := newFixture(t)
	h := header(f.r)
	bigKey := string(bytes.Repeat([]byte("k"), MaxKeySize+1))
	bigVal := string(bytes.Repeat([]byte("v"), MaxValueSize+1))
	delRange := func(start, end string) *flaredbv1.RaftCommand {
		return &flaredbv1.RaftCommand{Header: h, Command: &flaredbv1.RaftCommand_Write{Write: &flaredbv1.WriteBatch{
			Mutations: []*flaredbv1.Mutation{
				{Op: &flaredbv1.Mutation_Put{Put: &flaredbv1.PutMutation{Key: []byte("ok"), Value: []byte("v")}}},
				{Op: &flaredbv1.Mutation_DeleteRange{DeleteRange: &flaredbv1.DeleteRangeMutation{StartKey: []byte(start), EndKey: []byte(end)}}},
			},
		}}}
	}
	cases := []struct {
		name string
		cmd  *flaredbv1.RaftCommand
		want error
	}{
		{"empty key", putCmd(h, "ok", "v", "", "v"), ErrEmptyKey},
		{"oversized key", putCmd(h, "ok", "v", bigKey, "v"), ErrKeyTooLarge},
		{"oversized value", putCmd(h, "ok", "v", "k", bigVal), ErrValueTooLarge},
		{"empty batch", putCmd(h), ErrInvalidCommand},
		{"cas empty key", casCmd(h, "", "v", "", true), ErrEmptyKey},
		{"cas oversized value", casCmd(h, "k", bigVal, "", true), ErrValueTooLarge},
		{"delete range start > end", delRange("z", "a"), ErrInvalidRange},
		{"delete range oversized end", delRange("a", bigKey), ErrKeyTooLarge},
	}
	for _, tc := range cases {
		if err := f.r.CheckCommand(tc.cmd); !errors.Is(err, tc.want) {
			t.Fatalf("%s: CheckCommand = %v, want %v", tc.name, err, tc.want)
		}
		res := f.apply(f.r, tc.cmd)
		if !errors.Is(res.Err, tc.want) || !errors.Is(res.Err, ErrInvalidArgument) {
			t.Fatalf("%s: apply = %v, want %v", tc.name, res.Err, tc.want)
		}
	}
	kvs, err := f.r.Scan(context.Background(), reqCtx(f.r), ScanOptions{})
	if err != nil || len(kvs) != 0 {
		t.Fatalf("engine after rejected input holds %d pairs (%v)", len(kvs), err)
	}
}

func TestBadRequestInput(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, _, err := f.r.Get(ctx, reqCtx(f.r), nil)
	wantIs(t, err, ErrEmptyKey)
	_, _, err = f.r.Get(ctx, reqCtx(f.r), bytes.Repeat([]byte("k"), MaxKeySize+1))
	wantIs(t, err, ErrKeyTooLarge)
	_, err = f.r.Scan(ctx, reqCtx(f.r), ScanOptions{Start: []byte("b"), End: []byte("a")})
	wantIs(t, err, ErrInvalidRange)
	_, err = f.r.BatchGet(ctx, reqCtx(f.r), make([][]byte, MaxBatchKeys+1))
	wantIs(t, err, ErrTooManyKeys)
	wantIs(t, f.r.CheckRequest(reqCtx(f.r), []byte("a"), nil), ErrEmptyKey)
}

func TestKeyNotInRegionAtRequestAndApply(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.r, splitCmd(header(f.r), "m", 2, 21, 22, 23))
	err := f.r.CheckRequest(reqCtx(f.r), []byte("n"), []byte("b"))
	knr := wantRegionError[*flaredbv1.RegionError_KeyNotInRegion](t, err)
	if string(knr.KeyNotInRegion.GetKey()) != "b" || knr.KeyNotInRegion.GetRegionId() != 1 {
		t.Fatalf("key not in region = %v", knr)
	}
	_, err = f.r.Scan(context.Background(), reqCtx(f.r), ScanOptions{Start: []byte("a"), End: []byte("c")})
	wantRegionError[*flaredbv1.RegionError_KeyNotInRegion](t, err)
	res := f.apply(f.r, casCmd(header(f.r), "b", "v", "", true))
	wantRegionError[*flaredbv1.RegionError_KeyNotInRegion](t, res.Err)
	dr := &flaredbv1.RaftCommand{Header: header(f.r), Command: &flaredbv1.RaftCommand_Write{Write: &flaredbv1.WriteBatch{
		Mutations: []*flaredbv1.Mutation{{Op: &flaredbv1.Mutation_DeleteRange{DeleteRange: &flaredbv1.DeleteRangeMutation{StartKey: []byte("a")}}}},
	}}}
	wantRegionError[*flaredbv1.RegionError_KeyNotInRegion](t, f.apply(f.r, dr).Err)
	if _, ok := f.rawGet("b"); ok {
		t.Fatal("write outside the region reached the engine")
	}
}

func TestDeleteRangeStaysInRegion(t *testing.T) {
	f := newFixture(t)
	f.putMany(f.r, 100)
	f.mustApply(f.r, splitCmd(header(f.r), keyN(50), 2, 21, 22, 23))
	// Empty end: to the region's end (unbounded for the parent).
	dr := &flaredbv1.RaftCommand{Header: header(f.r), Command: &flaredbv1.RaftCommand_Write{Write: &flaredbv1.WriteBatch{
		Mutations: []*flaredbv1.Mutation{{Op: &flaredbv1.Mutation_DeleteRange{DeleteRange: &flaredbv1.DeleteRangeMutation{StartKey: []byte(keyN(50))}}}},
	}}}
	f.mustApply(f.r, dr)
	if _, ok := f.rawGet(keyN(99)); ok {
		t.Fatal("delete range left a key")
	}
	if _, ok := f.rawGet(keyN(49)); !ok {
		t.Fatal("delete range crossed into the child region")
	}
	// Empty start: from the region's start (the child is ["", key00050)).
	c, err := Open(f.eng, 2)
	if err != nil {
		t.Fatal(err)
	}
	dr = &flaredbv1.RaftCommand{Header: header(c), Command: &flaredbv1.RaftCommand_Write{Write: &flaredbv1.WriteBatch{
		Mutations: []*flaredbv1.Mutation{{Op: &flaredbv1.Mutation_DeleteRange{DeleteRange: &flaredbv1.DeleteRangeMutation{EndKey: []byte(keyN(10))}}}},
	}}}
	f.mustApply(c, dr)
	if kvs := dump(t, c); len(kvs) != 40 || string(kvs[0].Key) != keyN(10) {
		t.Fatalf("child after delete range holds %d pairs", len(kvs))
	}
}
