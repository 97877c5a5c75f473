package kvservice

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

type sbSub = flaredbv1.StoreBatchRequest_Sub

func sbGet(id uint64, rc *flaredbv1.Context, k string) *sbSub {
	return &sbSub{Id: id, Request: &flaredbv1.StoreBatchRequest_Sub_Get{Get: &flaredbv1.GetRequest{Context: rc, Key: []byte(k)}}}
}

func sbPut(id uint64, rc *flaredbv1.Context, k, v string) *sbSub {
	return &sbSub{Id: id, Request: &flaredbv1.StoreBatchRequest_Sub_Put{Put: &flaredbv1.PutRequest{Context: rc, Key: []byte(k), Value: []byte(v)}}}
}

func sbCAS(id uint64, rc *flaredbv1.Context, k, v string) *sbSub {
	return &sbSub{Id: id, Request: &flaredbv1.StoreBatchRequest_Sub_CompareAndSwap{CompareAndSwap: &flaredbv1.CompareAndSwapRequest{
		Context: rc, Key: []byte(k), Value: []byte(v), PreviousNotExists: true,
	}}}
}

func storeBatch(t *testing.T, kv *KV, subs ...*sbSub) []*flaredbv1.StoreBatchResponse_Sub {
	t.Helper()
	resp, err := kv.StoreBatch(context.Background(), connect.NewRequest(&flaredbv1.StoreBatchRequest{Requests: subs}))
	if err != nil {
		t.Fatalf("store batch: %v", err)
	}
	out := resp.Msg.GetResponses()
	if len(out) != len(subs) {
		t.Fatalf("%d answers to %d sub-requests", len(out), len(subs))
	}
	for i, r := range out {
		if r.GetId() != subs[i].GetId() {
			t.Fatalf("answer %d has id %d, want %d", i, r.GetId(), subs[i].GetId())
		}
	}
	return out
}

// subRegionError is the region error in a typed sub-response.
func subRegionError(r *flaredbv1.StoreBatchResponse_Sub) *flaredbv1.RegionError {
	switch v := r.GetResponse().(type) {
	case *flaredbv1.StoreBatchResponse_Sub_Get:
		return v.Get.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_BatchGet:
		return v.BatchGet.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_Put:
		return v.Put.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_BatchPut:
		return v.BatchPut.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_Delete:
		return v.Delete.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_BatchDelete:
		return v.BatchDelete.GetRegionError()
	case *flaredbv1.StoreBatchResponse_Sub_CompareAndSwap:
		return v.CompareAndSwap.GetRegionError()
	}
	return nil
}

// TestStoreBatchMixedRegions: one call carries sub-requests for two
// regions plus a stale epoch, a key outside its region, an unknown region
// and malformed input; the good ones are served, each bad one fails alone
// with its own error.
func TestStoreBatchMixedRegions(t *testing.T) {
	c, nd, parent := oneStore(t)
	kv := nd.kv
	split, err := nd.admin.SplitRegion(context.Background(), connect.NewRequest(&flaredbv1.SplitRegionRequest{RegionId: parent.GetRegionId(), SplitKey: []byte("m")}))
	if err != nil {
		t.Fatal(err)
	}
	left, right := rctx(split.Msg.GetLeft()), rctx(split.Msg.GetRight())
	c.leaderForWait(t, []byte("a"))
	c.leaderForWait(t, []byte("x"))
	unknown := &flaredbv1.Context{RegionId: 999, RegionEpoch: right.GetRegionEpoch()}

	out := storeBatch(t, kv,
		sbPut(1, left, "a", "1"),
		sbPut(2, right, "x", "2"),
		sbPut(3, left, "b", "3"),
		sbPut(4, parent, "y", "stale"),  // epoch from before the split
		sbPut(5, right, "c", "outside"), // merged with 2, but "c" < "m"
		sbPut(6, unknown, "q", "nowhere"),
		sbPut(7, left, "", "empty key"),
		&sbSub{Id: 8},
		&sbSub{Id: 9, Request: &flaredbv1.StoreBatchRequest_Sub_BatchPut{BatchPut: &flaredbv1.BatchPutRequest{Context: right, Pairs: []*flaredbv1.KvPair{
			{Key: []byte("z1"), Value: []byte("9")}, {Key: []byte("z2"), Value: []byte("9")},
		}}}},
		sbCAS(10, left, "cas", "won"),
	)
	for _, i := range []int{0, 1, 2, 8, 9} {
		if out[i].GetError() != nil || subRegionError(out[i]) != nil {
			t.Fatalf("sub-request %d failed: %v", out[i].GetId(), out[i])
		}
	}
	if out[3].GetPut().GetRegionError().GetEpochNotMatch() == nil {
		t.Fatalf("stale epoch: %v", out[3])
	}
	if out[4].GetPut().GetRegionError().GetKeyNotInRegion() == nil {
		t.Fatalf("key outside region: %v", out[4])
	}
	if out[5].GetPut().GetRegionError().GetRegionNotFound() == nil {
		t.Fatalf("unknown region: %v", out[5])
	}
	for _, i := range []int{6, 7} {
		if e := out[i].GetError(); e == nil || connect.Code(e.GetCode()) != connect.CodeInvalidArgument {
			t.Fatalf("malformed sub-request %d: %v", out[i].GetId(), out[i])
		}
	}
	if !out[9].GetCompareAndSwap().GetSucceeded() {
		t.Fatalf("cas: %v", out[9])
	}

	out = storeBatch(t, kv,
		sbGet(1, left, "a"), sbGet(2, right, "x"), sbGet(3, left, "b"), sbGet(4, right, "y"),
		sbGet(5, left, "c"), sbGet(6, left, "cas"), sbGet(7, parent, "a"),
		&sbSub{Id: 8, Request: &flaredbv1.StoreBatchRequest_Sub_BatchGet{BatchGet: &flaredbv1.BatchGetRequest{Context: right, Keys: [][]byte{
			[]byte("z2"), []byte("zz"), []byte("z1"), []byte("x"),
		}}}},
	)
	want := []string{"1", "2", "3", "<none>", "<none>", "won"}
	for i, w := range want {
		g := out[i].GetGet()
		got := string(g.GetValue())
		if g.GetNotFound() {
			got = "<none>"
		}
		if g.GetRegionError() != nil || got != w {
			t.Fatalf("get %d = %q (%v), want %q", i+1, got, g.GetRegionError(), w)
		}
	}
	if out[6].GetGet().GetRegionError().GetEpochNotMatch() == nil {
		t.Fatalf("stale read: %v", out[6])
	}
	if got := pairString(out[7].GetBatchGet().GetPairs()); got != "z2=9,z1=9,x=2" {
		t.Fatalf("batch get %s", got)
	}
}

// TestStoreBatchCASStaysAtomic: compare-and-swaps of one key in one and in
// concurrent store batches are each their own proposal, evaluated in log
// order: exactly one create wins, and increments are never lost.
func TestStoreBatchCASStaysAtomic(t *testing.T) {
	_, nd, rc := oneStore(t)
	kv := nd.kv
	var subs []*sbSub
	for i := range 8 {
		subs = append(subs, sbCAS(uint64(i), rc, "once", fmt.Sprint(i)))
	}
	won := 0
	for _, r := range storeBatch(t, kv, subs...) {
		if r.GetCompareAndSwap().GetSucceeded() {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d creates of one key succeeded, want 1", won)
	}

	// Counter: 4 goroutines, each sending batches of 3 increments of the
	// same key that expect the value they last read.
	storeBatch(t, kv, sbPut(0, rc, "n", "0"))
	var mu sync.Mutex
	succeeded := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				g := storeBatch(t, kv, sbGet(0, rc, "n"))[0].GetGet()
				var n int
				fmt.Sscan(string(g.GetValue()), &n)
				var subs []*sbSub
				for j := range 3 {
					subs = append(subs, &sbSub{Id: uint64(j), Request: &flaredbv1.StoreBatchRequest_Sub_CompareAndSwap{CompareAndSwap: &flaredbv1.CompareAndSwapRequest{
						Context: rc, Key: []byte("n"), PreviousValue: g.GetValue(), Value: []byte(fmt.Sprint(n + 1)),
					}}})
				}
				ok := 0
				for _, r := range storeBatch(t, kv, subs...) {
					if r.GetCompareAndSwap().GetSucceeded() {
						ok++
					}
				}
				if ok > 1 {
					t.Errorf("%d swaps from one previous value succeeded", ok)
				}
				mu.Lock()
				succeeded += ok
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	g := storeBatch(t, kv, sbGet(0, rc, "n"))[0].GetGet()
	if string(g.GetValue()) != fmt.Sprint(succeeded) {
		t.Fatalf("counter = %s after %d successful increments", g.GetValue(), succeeded)
	}
}

// TestStoreBatchLimits: too many sub-requests or keys are InvalidArgument,
// too many bytes ResourceExhausted, checked before any routing.
func TestStoreBatchLimits(t *testing.T) {
	kv := NewKV(nil)
	rc := &flaredbv1.Context{RegionId: 1, RegionEpoch: &flaredbv1.RegionEpoch{Version: 1}}
	gets := func(n int) []*sbSub {
		out := make([]*sbSub, n)
		for i := range out {
			out[i] = sbGet(uint64(i), rc, "k")
		}
		return out
	}
	keys := make([][]byte, 3000)
	for i := range keys {
		keys[i] = []byte("k")
	}
	batchGet := &sbSub{Request: &flaredbv1.StoreBatchRequest_Sub_BatchGet{BatchGet: &flaredbv1.BatchGetRequest{Context: rc, Keys: keys}}}
	var bigPuts []*sbSub
	for i := range 5 {
		bigPuts = append(bigPuts, sbPut(uint64(i), rc, "k", string(make([]byte, region.MaxValueSize))))
	}
	cases := []struct {
		name string
		subs []*sbSub
		code connect.Code
	}{
		{"empty", nil, connect.CodeInvalidArgument},
		{"too many sub-requests", gets(MaxStoreBatchRequests + 1), connect.CodeInvalidArgument},
		{"too many keys", []*sbSub{batchGet, batchGet}, connect.CodeInvalidArgument},
		{"too many bytes", bigPuts, connect.CodeResourceExhausted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kv.StoreBatch(context.Background(), connect.NewRequest(&flaredbv1.StoreBatchRequest{Requests: tc.subs}))
			if connect.CodeOf(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
		})
	}
	if err := validStoreBatch(gets(MaxStoreBatchRequests)); err != nil {
		t.Fatalf("a batch at the limit was refused: %v", err)
	}
}

// FuzzValidateStoreBatch: the store batch validators never panic, reject
// only with InvalidArgument or the size error, and what they accept is
// within the limits and routable.
func FuzzValidateStoreBatch(f *testing.F) {
	rc := &flaredbv1.Context{RegionId: 1, RegionEpoch: &flaredbv1.RegionEpoch{Version: 1}}
	for _, m := range []*flaredbv1.StoreBatchRequest{
		{Requests: []*sbSub{sbGet(1, rc, "a"), sbPut(2, rc, "b", "v"), sbCAS(3, rc, "c", "w")}},
		{Requests: []*sbSub{{Id: 4}, sbPut(5, nil, "", "")}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m flaredbv1.StoreBatchRequest
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		subs := m.GetRequests()
		err := validStoreBatch(subs)
		if err != nil {
			if !errors.Is(err, region.ErrInvalidArgument) && !errors.Is(err, ErrStoreBatchTooLarge) {
				t.Fatalf("limit error %v is neither invalid argument nor too large", err)
			}
			return
		}
		keys, size := 0, 0
		for _, sub := range subs {
			k, b := subSize(sub)
			keys, size = keys+k, size+b
			if err := validSub(sub); err != nil {
				if !errors.Is(err, region.ErrInvalidArgument) {
					t.Fatalf("sub-request error %v is not an invalid argument", err)
				}
				continue
			}
			if _, rc := classify(sub); rc.GetRegionId() == 0 || rc.GetRegionEpoch() == nil {
				t.Fatalf("accepted a sub-request without a routable context: %v", sub)
			}
		}
		if len(subs) == 0 || len(subs) > MaxStoreBatchRequests || keys > MaxStoreBatchKeys || size > MaxStoreBatchBytes {
			t.Fatalf("accepted %d sub-requests, %d keys, %d bytes", len(subs), keys, size)
		}
	})
}
