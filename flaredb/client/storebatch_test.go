package client

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestStoreBatchMergesRegions: concurrent puts and gets for many regions
// led by one store go out as a few StoreBatch requests carrying several
// regions each, and every caller gets its own answer.
func TestStoreBatchMergesRegions(t *testing.T) {
	for _, depth := range []int{1, 2} {
		t.Run(fmt.Sprintf("depth=%d", depth), func(t *testing.T) { testStoreBatchMergesRegions(t, depth) })
	}
}

func testStoreBatchMergesRegions(t *testing.T, depth int) {
	f := newFake(t, 3)
	for _, k := range []string{"b", "c", "d", "e", "f", "g", "h"} {
		f.Split(k)
	}
	c := slowClient(t, f, 30*time.Millisecond, WithStoreBatchDepth(depth))
	const n = 48
	key := func(i int) []byte { return fmt.Appendf(nil, "%c%02d", 'a'+i%8, i) }
	for i := range 8 {
		mustPut(t, c, string(key(i)), "warm") // fills the region cache
	}
	before := len(f.StoreBatches())
	errs := make([]error, n)
	concurrently(n, func(i int) { errs[i] = c.Put(ctx, key(i), fmt.Appendf(nil, "v%d", i)) })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	batches := f.StoreBatches()[before:]
	if len(batches) >= n/2 {
		t.Fatalf("%d concurrent puts took %d store batches; want them merged", n, len(batches))
	}
	most := 0
	for _, b := range batches {
		most = max(most, len(b))
	}
	if most < 2 {
		t.Fatalf("no store batch carried more than one region: %v", batches)
	}
	vals := make([]string, n)
	concurrently(n, func(i int) {
		v, ok, err := c.Get(ctx, key(i))
		vals[i] = fmt.Sprintf("%s %v %v", v, ok, err)
	})
	for i, v := range vals {
		if want := fmt.Sprintf("v%d true <nil>", i); v != want {
			t.Fatalf("get %s = %q, want %q", key(i), v, want)
		}
	}
}

// TestStoreBatchRegionErrorsRetried: one store batch holds four regions'
// puts; one region's leader moved to another store (NotLeader with a hint)
// and another split (stale epoch). The other two are served in the batch,
// the two failed ones are retried through the usual cache repair and
// succeed, and the cache learns the new leader and the new regions.
func TestStoreBatchRegionErrorsRetried(t *testing.T) {
	f := newFake(t, 3)
	for _, k := range []string{"b", "c", "d"} {
		f.Split(k)
	}
	c := slowClient(t, f, 200*time.Millisecond)
	for _, k := range []string{"a1", "b1", "c1", "d1"} {
		mustPut(t, c, k, "warm")
	}
	f.SetLeader("b1", 2) // region b now led by store 2: NotLeader, hint 2
	f.Split("c5")        // region c split: EpochNotMatch
	before := len(f.StoreBatches())

	// A put in flight to store 1, so the next four queue behind it and go
	// out together.
	var wg sync.WaitGroup
	wg.Go(func() { mustPut(t, c, "a0", "first") })
	time.Sleep(50 * time.Millisecond)
	keys := []string{"a1", "b1", "c1", "d1"}
	errs := make([]error, len(keys))
	concurrently(len(keys), func(i int) { errs[i] = c.Put(ctx, []byte(keys[i]), []byte("v-"+keys[i])) })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("put %s: %v", keys[i], err)
		}
	}
	var mixed []uint64
	for _, b := range f.StoreBatches()[before:] {
		if len(b) == 4 {
			mixed = b
		}
	}
	if mixed == nil {
		t.Fatalf("no store batch held all four regions: %v", f.StoreBatches()[before:])
	}
	for _, k := range keys {
		mustGet(t, c, k, "v-"+k)
	}
	if got := c.cache.lookup([]byte("b1")).leader.GetStoreId(); got != 2 {
		t.Fatalf("cached leader of region b on store %d, want 2", got)
	}
	if got := string(c.cache.lookup([]byte("c1")).region.GetEndKey()); got != "c5" {
		t.Fatalf("cached region of c1 ends at %q, want c5 (the split)", got)
	}
	if got := f.PDRegionCalls(); got != 4 {
		t.Fatalf("PD GetRegion calls = %d, want 4 (the warm-up; the errors carry the repairs)", got)
	}
}

// TestStoreBatchUnimplementedFallsBack: a store without StoreBatch is
// remembered and served by per-region batches.
func TestStoreBatchUnimplementedFallsBack(t *testing.T) {
	f := newFake(t, 3)
	f.DisableStoreBatch(1)
	c := slowClient(t, f, 20*time.Millisecond)
	mustPut(t, c, "warm", "x")
	for range 2 { // the first round learns that store 1 lacks StoreBatch
		concurrently(20, func(i int) {
			if err := c.Put(ctx, fmt.Appendf(nil, "k%02d", i), []byte("v")); err != nil {
				t.Errorf("put %d: %v", i, err)
			}
		})
		if !c.noStoreBatch(1) {
			t.Fatal("store 1 not marked as lacking StoreBatch")
		}
	}
	if len(f.BatchRequests()) == 0 {
		t.Fatal("no per-region batch after StoreBatch was refused")
	}
	mustGet(t, c, "k07", "v")
}

// TestWithStoreBatchingOff: the option restores per-region coalescing.
func TestWithStoreBatchingOff(t *testing.T) {
	f := newFake(t, 3)
	f.Split("m")
	c := slowClient(t, f, 20*time.Millisecond, WithStoreBatching(false))
	concurrently(20, func(i int) {
		if err := c.Put(ctx, fmt.Appendf(nil, "%c%02d", 'a'+i%26, i), []byte("v")); err != nil {
			t.Errorf("put %d: %v", i, err)
		}
	})
	if got := len(f.StoreBatches()); got != 0 {
		t.Fatalf("%d store batches with store batching off", got)
	}
}
