package coalesce

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBatcherResultsPerItem checks that every caller gets the result for
// its own item, and that items queued while a batch is in flight travel
// together in a later batch.
func TestBatcherResultsPerItem(t *testing.T) {
	release := make(chan struct{})
	var calls, maxLen atomic.Int64
	var first sync.Once
	firstStarted := make(chan struct{})
	b := NewBatcher(64, func(_ context.Context, items []int) []Result[int] {
		calls.Add(1)
		first.Do(func() { close(firstStarted); <-release })
		if n := int64(len(items)); n > maxLen.Load() {
			maxLen.Store(n)
		}
		out := make([]Result[int], len(items))
		for i, v := range items {
			if v%7 == 0 {
				out[i].Err = errors.New("seven")
				continue
			}
			out[i].Value = v * 10
		}
		return out
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	b.Run(ctx, 1, &wg)

	check := func(v int) {
		got, err := b.Submit(ctx, v)
		switch {
		case v%7 == 0 && err == nil:
			t.Errorf("item %d: want its error, got %d", v, got)
		case v%7 != 0 && (err != nil || got != v*10):
			t.Errorf("item %d: got %d, %v; want %d", v, got, err, v*10)
		}
	}
	var callers sync.WaitGroup
	callers.Add(1)
	go func() { defer callers.Done(); check(1) }()
	<-firstStarted // the one worker is busy with item 1
	for v := 2; v < 50; v++ {
		callers.Add(1)
		go func() { defer callers.Done(); check(v) }()
	}
	for len(b.queue) < 48 {
		runtime.Gosched()
	}
	close(release)
	callers.Wait()
	if c := calls.Load(); c != 2 {
		t.Errorf("sent %d batches, want 2 (one in flight, then the 48 queued meanwhile)", c)
	}
	if m := maxLen.Load(); m != 48 {
		t.Errorf("largest batch %d, want 48", m)
	}
	cancel()
	wg.Wait()
}

// TestBatcherMaxBatch checks that a batch never exceeds its bound.
func TestBatcherMaxBatch(t *testing.T) {
	var maxLen atomic.Int64
	b := NewBatcher(4, func(_ context.Context, items []int) []Result[int] {
		if n := int64(len(items)); n > maxLen.Load() {
			maxLen.Store(n)
		}
		return make([]Result[int], len(items))
	})
	// Queue before any worker runs, so the first batch could take them all.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var callers sync.WaitGroup
	for v := range 20 {
		callers.Add(1)
		go func() {
			defer callers.Done()
			if _, err := b.Submit(ctx, v); err != nil {
				t.Error(err)
			}
		}()
	}
	for len(b.queue) < 20 {
		runtime.Gosched()
	}
	var wg sync.WaitGroup
	b.Run(ctx, 1, &wg)
	callers.Wait()
	if m := maxLen.Load(); m != 4 {
		t.Errorf("largest batch %d, want 4", m)
	}
	cancel()
	wg.Wait()
}
