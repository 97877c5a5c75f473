package kvservice

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/internal/region"
	"github.com/photoncloud/core/flaredb/internal/store"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

func oneStore(t *testing.T) (*cluster, *node, *flaredbv1.Context) {
	c := newCluster(t, 1, store.Config{}, true)
	nd, r := c.leaderForWait(t, []byte("a"))
	return c, nd, rctx(r)
}

func TestOperations(t *testing.T) {
	_, nd, rc := oneStore(t)
	ctx := context.Background()
	kv := nd.kv
	mustOK := func(re *flaredbv1.RegionError, err error) {
		t.Helper()
		if err != nil || re != nil {
			t.Fatalf("err %v region error %v", err, re)
		}
	}
	bp, err := kv.BatchPut(ctx, connect.NewRequest(&flaredbv1.BatchPutRequest{Context: rc, Pairs: []*flaredbv1.KvPair{
		{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")},
		{Key: []byte("c"), Value: []byte("3")}, {Key: []byte("d"), Value: []byte("4")},
	}}))
	mustOK(bp.Msg.GetRegionError(), err)

	bg, err := kv.BatchGet(ctx, connect.NewRequest(&flaredbv1.BatchGetRequest{Context: rc, Keys: [][]byte{[]byte("c"), []byte("x"), []byte("a")}}))
	mustOK(bg.Msg.GetRegionError(), err)
	if got := pairString(bg.Msg.GetPairs()); got != "c=3,a=1" {
		t.Fatalf("batch get %s", got)
	}

	sc, err := kv.Scan(ctx, connect.NewRequest(&flaredbv1.ScanRequest{Context: rc, StartKey: []byte("b"), Limit: 2}))
	mustOK(sc.Msg.GetRegionError(), err)
	if got := pairString(sc.Msg.GetPairs()); got != "b=2,c=3" {
		t.Fatalf("scan %s", got)
	}
	sc, err = kv.Scan(ctx, connect.NewRequest(&flaredbv1.ScanRequest{Context: rc, EndKey: []byte("d"), Reverse: true, KeysOnly: true}))
	mustOK(sc.Msg.GetRegionError(), err)
	if got := pairString(sc.Msg.GetPairs()); got != "c=,b=,a=" {
		t.Fatalf("reverse keys-only scan %s", got)
	}

	cas, err := kv.CompareAndSwap(ctx, connect.NewRequest(&flaredbv1.CompareAndSwapRequest{Context: rc, Key: []byte("a"), PreviousValue: []byte("9"), Value: []byte("x")}))
	mustOK(cas.Msg.GetRegionError(), err)
	if cas.Msg.GetSucceeded() || string(cas.Msg.GetPreviousValue()) != "1" {
		t.Fatalf("cas with a wrong previous value: %v", cas.Msg)
	}
	cas, err = kv.CompareAndSwap(ctx, connect.NewRequest(&flaredbv1.CompareAndSwapRequest{Context: rc, Key: []byte("a"), PreviousValue: []byte("1"), Value: []byte("x")}))
	mustOK(cas.Msg.GetRegionError(), err)
	if !cas.Msg.GetSucceeded() {
		t.Fatalf("cas: %v", cas.Msg)
	}
	cas, err = kv.CompareAndSwap(ctx, connect.NewRequest(&flaredbv1.CompareAndSwapRequest{Context: rc, Key: []byte("new"), PreviousNotExists: true, Value: []byte("n")}))
	mustOK(cas.Msg.GetRegionError(), err)
	if !cas.Msg.GetSucceeded() || !cas.Msg.GetPreviousNotExists() {
		t.Fatalf("cas on a missing key: %v", cas.Msg)
	}

	del, err := kv.Delete(ctx, connect.NewRequest(&flaredbv1.DeleteRequest{Context: rc, Key: []byte("b")}))
	mustOK(del.Msg.GetRegionError(), err)
	bd, err := kv.BatchDelete(ctx, connect.NewRequest(&flaredbv1.BatchDeleteRequest{Context: rc, Keys: [][]byte{[]byte("new")}}))
	mustOK(bd.Msg.GetRegionError(), err)
	dr, err := kv.DeleteRange(ctx, connect.NewRequest(&flaredbv1.DeleteRangeRequest{Context: rc, StartKey: []byte("c"), EndKey: []byte("d")}))
	mustOK(dr.Msg.GetRegionError(), err)
	sc, err = kv.Scan(ctx, connect.NewRequest(&flaredbv1.ScanRequest{Context: rc}))
	mustOK(sc.Msg.GetRegionError(), err)
	if got := pairString(sc.Msg.GetPairs()); got != "a=x,d=4" {
		t.Fatalf("after deletes: %s", got)
	}
	g, err := kv.Get(ctx, connect.NewRequest(&flaredbv1.GetRequest{Context: rc, Key: []byte("b")}))
	mustOK(g.Msg.GetRegionError(), err)
	if !g.Msg.GetNotFound() {
		t.Fatal("deleted key found")
	}
}

func pairString(ps []*flaredbv1.KvPair) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, string(p.GetKey())+"="+string(p.GetValue()))
	}
	return strings.Join(parts, ",")
}

func TestBadInputIsInvalidArgumentAndWritesNothing(t *testing.T) {
	_, nd, rc := oneStore(t)
	ctx := context.Background()
	kv := nd.kv
	big := bytes.Repeat([]byte("k"), region.MaxKeySize+1)
	huge := make([]byte, region.MaxValueSize+1)
	noEpoch := &flaredbv1.Context{RegionId: rc.GetRegionId()}
	cases := map[string]func() error{
		"put empty key": func() error {
			_, err := kv.Put(ctx, connect.NewRequest(&flaredbv1.PutRequest{Context: rc, Value: []byte("v")}))
			return err
		},
		"put oversized key": func() error {
			_, err := kv.Put(ctx, connect.NewRequest(&flaredbv1.PutRequest{Context: rc, Key: big}))
			return err
		},
		"put oversized value": func() error {
			_, err := kv.Put(ctx, connect.NewRequest(&flaredbv1.PutRequest{Context: rc, Key: []byte("v"), Value: huge}))
			return err
		},
		"put no context": func() error {
			_, err := kv.Put(ctx, connect.NewRequest(&flaredbv1.PutRequest{Key: []byte("v")}))
			return err
		},
		"put no epoch": func() error {
			_, err := kv.Put(ctx, connect.NewRequest(&flaredbv1.PutRequest{Context: noEpoch, Key: []byte("v")}))
			return err
		},
		"put region 0": func() error {
			_, err := kv.Put(ctx, connect.NewRequest(&flaredbv1.PutRequest{Context: &flaredbv1.Context{RegionEpoch: rc.GetRegionEpoch()}, Key: []byte("v")}))
			return err
		},
		"batch put one bad pair": func() error {
			_, err := kv.BatchPut(ctx, connect.NewRequest(&flaredbv1.BatchPutRequest{Context: rc, Pairs: []*flaredbv1.KvPair{{Key: []byte("v"), Value: []byte("1")}, {Value: []byte("2")}}}))
			return err
		},
		"batch put nothing": func() error {
			_, err := kv.BatchPut(ctx, connect.NewRequest(&flaredbv1.BatchPutRequest{Context: rc}))
			return err
		},
		"get empty key": func() error {
			_, err := kv.Get(ctx, connect.NewRequest(&flaredbv1.GetRequest{Context: rc}))
			return err
		},
		"scan start > end": func() error {
			_, err := kv.Scan(ctx, connect.NewRequest(&flaredbv1.ScanRequest{Context: rc, StartKey: []byte("z"), EndKey: []byte("a")}))
			return err
		},
		"delete range start > end": func() error {
			_, err := kv.DeleteRange(ctx, connect.NewRequest(&flaredbv1.DeleteRangeRequest{Context: rc, StartKey: []byte("z"), EndKey: []byte("a")}))
			return err
		},
		"cas oversized value": func() error {
			_, err := kv.CompareAndSwap(ctx, connect.NewRequest(&flaredbv1.CompareAndSwapRequest{Context: rc, Key: []byte("v"), Value: huge}))
			return err
		},
		"split empty key": func() error {
			_, err := nd.admin.SplitRegion(ctx, connect.NewRequest(&flaredbv1.SplitRegionRequest{RegionId: rc.GetRegionId()}))
			return err
		},
		"create peer without ids": func() error {
			_, err := nd.admin.CreatePeer(ctx, connect.NewRequest(&flaredbv1.CreatePeerRequest{}))
			return err
		},
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			err := call()
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
		})
	}
	sc, err := kv.Scan(ctx, connect.NewRequest(&flaredbv1.ScanRequest{Context: rc}))
	if err != nil || len(sc.Msg.GetPairs()) != 0 {
		t.Fatalf("bad input wrote something: %v %v", err, sc.Msg.GetPairs())
	}
}
