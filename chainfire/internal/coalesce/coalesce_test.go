package coalesce

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCallStartsAfterCaller checks the one guarantee that matters: every
// caller gets the result of a call that began after it asked.
func TestCallStartsAfterCaller(t *testing.T) {
	var started atomic.Int64 // incremented when a call starts; the call returns that number
	g := New(func(context.Context) (int64, error) {
		n := started.Add(1)
		time.Sleep(2 * time.Millisecond)
		return n, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			before := started.Load()
			got, err := g.Do(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if got <= before {
				t.Errorf("got call %d, but call %d had already started when Do was called", got, before)
			}
		}()
		time.Sleep(100 * time.Microsecond)
	}
	wg.Wait()
	if n := started.Load(); n >= 200 {
		t.Errorf("%d calls for 200 callers: nothing was shared", n)
	}
}

func TestDoHonoursContext(t *testing.T) {
	g := New(func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() })
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	go g.Run(runCtx)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.Do(ctx); err == nil {
		t.Error("Do returned without error after its context expired")
	}
}
