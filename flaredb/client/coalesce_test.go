package client

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowBatches delays batch requests, so concurrent callers pile up behind
// the one in flight as they do behind a busy store.
type slowBatches struct {
	next  http.RoundTripper
	delay time.Duration
}

func (s slowBatches) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/BatchPut") || strings.HasSuffix(r.URL.Path, "/BatchGet") || strings.HasSuffix(r.URL.Path, "/StoreBatch") {
		time.Sleep(s.delay)
	}
	return s.next.RoundTrip(r)
}

func slowClient(t *testing.T, f interface{ PDURL() string }, delay time.Duration, opts ...Option) *Client {
	t.Helper()
	hc := newH2CClient()
	hc.Transport = slowBatches{next: hc.Transport, delay: delay}
	c, err := New([]string{f.PDURL()}, append([]Option{WithHTTPClient(hc), WithBackoff(time.Millisecond, 20*time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func concurrently(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); fn(i) }()
	}
	wg.Wait()
}

// TestConcurrentPutsAndGetsShareRequests: calls that arrive while a
// request to their region is in flight go out together in one batch, and
// every caller gets its own answer.
func TestConcurrentPutsAndGetsShareRequests(t *testing.T) {
	bothModes(t, testConcurrentPutsAndGetsShareRequests)
}

// bothModes runs test with store batching on and off.
func bothModes(t *testing.T, test func(t *testing.T, opts ...Option)) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("store-batching=%v", on), func(t *testing.T) { test(t, WithStoreBatching(on)) })
	}
}

func testConcurrentPutsAndGetsShareRequests(t *testing.T, opts ...Option) {
	f := newFake(t, 3)
	c := slowClient(t, f, 50*time.Millisecond, opts...)
	mustPut(t, c, "warm", "x") // fills the region cache
	before := len(f.BatchRequests())
	const n = 40
	errs := make([]error, n)
	concurrently(n, func(i int) { errs[i] = c.Put(ctx, fmt.Appendf(nil, "k%02d", i), fmt.Appendf(nil, "v%d", i)) })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	puts := f.BatchRequests()[before:]
	if len(puts) >= n/2 {
		t.Fatalf("%d concurrent puts took %d requests; want them merged", n, len(puts))
	}
	vals := make([]string, n)
	concurrently(n, func(i int) {
		v, ok, err := c.Get(ctx, fmt.Appendf(nil, "k%02d", i))
		if err != nil || !ok {
			vals[i] = fmt.Sprintf("err=%v found=%v", err, ok)
			return
		}
		vals[i] = string(v)
	})
	for i, v := range vals {
		if v != fmt.Sprintf("v%d", i) {
			t.Fatalf("get k%02d = %q, want v%d", i, v, i)
		}
	}
	if _, ok, err := c.Get(ctx, []byte("missing")); ok || err != nil {
		t.Fatalf("get of a missing key: found=%v err=%v", ok, err)
	}
	if got := len(f.BatchRequests()) - before - len(puts); got >= n/2 {
		t.Fatalf("%d concurrent gets took %d requests; want them merged", n, got)
	}
}

// TestMergedBatchFallsBackAfterSplit: the region splits while calls are
// queued, so the merged request is refused; every caller retries alone
// and succeeds.
func TestMergedBatchFallsBackAfterSplit(t *testing.T) {
	bothModes(t, testMergedBatchFallsBackAfterSplit)
}

func testMergedBatchFallsBackAfterSplit(t *testing.T, opts ...Option) {
	f := newFake(t, 3)
	c := slowClient(t, f, 30*time.Millisecond, opts...)
	mustPut(t, c, "warm", "x")
	const n = 30
	errs := make([]error, n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(10 * time.Millisecond)
		f.Split("k15")
	}()
	concurrently(n, func(i int) { errs[i] = c.Put(ctx, fmt.Appendf(nil, "k%02d", i), fmt.Appendf(nil, "v%d", i)) })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	for i := range n {
		mustGet(t, c, fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i))
	}
	if len(f.Regions()) != 2 {
		t.Fatalf("regions = %d, want 2", len(f.Regions()))
	}
}

// TestWithoutCoalescingSendsSingleRequests: the option turns merging off.
func TestWithoutCoalescingSendsSingleRequests(t *testing.T) {
	f := newFake(t, 1)
	c := newTestClient(t, f, WithoutCoalescing())
	concurrently(10, func(i int) { _ = c.Put(ctx, fmt.Appendf(nil, "k%d", i), []byte("v")) })
	if got := len(f.BatchRequests()); got != 0 {
		t.Fatalf("%d batch requests without coalescing", got)
	}
}
