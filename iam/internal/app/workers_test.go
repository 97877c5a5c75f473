package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestWorkerHandler: requests are answered through the workers, a panic
// reaches the request's own goroutine (where the HTTP server handles it),
// and with every worker busy requests are still served, not queued.
func TestWorkerHandler(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release, entered := make(chan struct{}), make(chan struct{}, 4)
	h := newWorkerHandler(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic(http.ErrAbortHandler)
		case "/block":
			entered <- struct{}{}
			<-release
		}
		w.Header().Set("X-Path", r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	}), 2)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, h2Request("/ok", nil))
	if rec.Code != http.StatusTeapot || rec.Header().Get("X-Path") != "/ok" {
		t.Fatalf("response %d %v", rec.Code, rec.Header())
	}

	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Fatalf("panic %v, want http.ErrAbortHandler on the caller's goroutine", v)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), h2Request("/panic", nil))
	}()

	// Occupy more than the two workers; an ordinary request still passes.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.ServeHTTP(httptest.NewRecorder(), h2Request("/block", nil))
		}()
	}
	for range 4 {
		<-entered
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, h2Request("/ok", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("with busy workers: %d", rec.Code)
	}
	close(release)
	wg.Wait()
}

// h2Request is an HTTP/2 request: the pool serves only those (HTTP/1.x
// requests stay on their connection's goroutine).
func h2Request(path string, _ any) *http.Request {
	r := httptest.NewRequest("GET", path, nil)
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	return r
}
