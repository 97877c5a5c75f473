package server

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestWorkerPoolServesOnWorkers: a call runs on a worker (the pool has one
// fewer idle worker while it runs), the worker returns to the pool, and a
// panic reaches the caller's goroutine, where net/http handles it.
func TestWorkerPoolServesOnWorkers(t *testing.T) {
	p := newWorkerPool(2)
	defer p.stop()
	idleDuring := -1
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic(http.ErrAbortHandler)
		}
		p.mu.Lock()
		idleDuring = len(p.idle)
		p.mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
	})
	rec := httptest.NewRecorder()
	p.serveHTTP(h, rec, httptest.NewRequest("GET", "/ok", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("status %d", rec.Code)
	}
	if idleDuring != 1 {
		t.Errorf("%d idle workers during the call; want 1 (the call on the other)", idleDuring)
	}
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Fatalf("panic %v; want http.ErrAbortHandler on the caller's goroutine", v)
			}
		}()
		p.serveHTTP(h, httptest.NewRecorder(), httptest.NewRequest("GET", "/panic", nil))
	}()
	waitIdle(t, p, 2)
}

// TestWorkerPoolNeverQueues: with every worker busy, calls still run (on
// their own goroutines), and after stop calls run inline.
func TestWorkerPoolNeverQueues(t *testing.T) {
	p := newWorkerPool(2)
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	block := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		entered <- struct{}{}
		<-release
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.serveHTTP(block, httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		}()
	}
	for range 4 {
		<-entered // all four run at once though only two workers exist
	}
	close(release)
	wg.Wait()
	waitIdle(t, p, 2)
	p.stop()
	p.stop() // idempotent
	rec := httptest.NewRecorder()
	p.serveHTTP(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }), rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusAccepted {
		t.Errorf("after stop: status %d", rec.Code)
	}
	var nilPool *workerPool
	nilPool.serveHTTP(http.NotFoundHandler(), httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

func waitIdle(t *testing.T, p *workerPool, n int) {
	t.Helper()
	for i := 0; ; i++ {
		p.mu.Lock()
		idle := len(p.idle)
		p.mu.Unlock()
		if idle == n {
			return
		}
		if i > 1000 {
			t.Fatalf("%d idle workers; want %d", idle, n)
		}
		runtimeGosched()
	}
}

// TestWorkerPoolReturnsOnlyAfterItsOwnCall: under contention every
// serveHTTP returns only once its own handler has finished. (A worker that
// made itself idle before its caller had taken the result let the next
// caller take that result instead, and return with its own call still
// running: an empty response.)
func TestWorkerPoolReturnsOnlyAfterItsOwnCall(t *testing.T) {
	p := newWorkerPool(4)
	defer p.stop()
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for range 3 {
			runtimeGosched()
		}
		w.WriteHeader(http.StatusAccepted)
	})
	var wg sync.WaitGroup
	errs := make(chan int, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3000 {
				rec := httptest.NewRecorder()
				p.serveHTTP(h, rec, httptest.NewRequest("GET", "/", nil))
				if rec.Code != http.StatusAccepted {
					errs <- rec.Code
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for code := range errs {
		t.Fatalf("serveHTTP returned before its handler finished (status %d)", code)
	}
}
