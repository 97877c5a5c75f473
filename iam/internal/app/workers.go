package app

import (
	"context"
	"net/http"
)

// workerHandler serves HTTP/2 requests on a set of long-lived goroutines. The
// HTTP/2 server starts a fresh goroutine, with the runtime's smallest
// stack, for every request; the Authorize path (Connect, the telemetry
// interceptor, body reading, the decision) then grows that stack several
// times, and copying stacks was ~13% of the server's CPU per decision.
// Workers keep their grown stacks between requests. When every worker is
// busy the request is served on its own goroutine as before, so the pool
// never queues or limits anything.
type workerHandler struct {
	next http.Handler
	jobs chan *job
}

type job struct {
	w     http.ResponseWriter
	r     *http.Request
	done  chan struct{}
	panic any
}

// newWorkerHandler starts n workers serving next until ctx ends.
func newWorkerHandler(ctx context.Context, next http.Handler, n int) *workerHandler {
	h := &workerHandler{next: next, jobs: make(chan *job)}
	for range n {
		go h.work(ctx)
	}
	return h
}

func (h *workerHandler) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-h.jobs:
			h.serve(j)
		}
	}
}

// serve runs one request, handing a panic back to the request's own
// goroutine so the HTTP server handles it as if nothing had moved.
func (h *workerHandler) serve(j *job) {
	defer func() {
		j.panic = recover()
		close(j.done)
	}()
	h.next.ServeHTTP(j.w, j.r)
}

func (h *workerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor < 2 {
		// HTTP/1.x requests run on their connection's goroutine, which
		// lives as long as the keep-alive connection and keeps its grown
		// stack: a hand-off would only add two context switches.
		h.next.ServeHTTP(w, r)
		return
	}
	j := &job{w: w, r: r, done: make(chan struct{})}
	select {
	case h.jobs <- j:
	default:
		h.next.ServeHTTP(w, r)
		return
	}
	<-j.done
	if j.panic != nil {
		panic(j.panic)
	}
}
