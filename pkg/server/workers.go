package server

import (
	"net/http"
	"sync"
)

// workerPool serves unary calls on long-lived goroutines.
//
// net/http's HTTP/2 server starts a fresh goroutine, with the runtime's
// smallest stack, for every request. A unary call through Connect (the
// telemetry interceptor, envelope reading, protobuf decoding, the handler,
// encoding) then grows that stack several times, and copying stacks was
// 10-15% of a Chainfire member's CPU per serializable read. Workers keep
// their grown stacks between calls.
//
// Idle workers are kept in a LIFO stack, so the ones that just finished (hot
// caches, stacks the GC has not shrunk) take the next call, and a few
// workers carry light load. When no worker is idle the call runs on its own
// goroutine as before: the pool never queues or limits anything.
type workerPool struct {
	mu   sync.Mutex
	idle []*worker
	quit chan struct{}
	once sync.Once
}

// worker runs one call at a time, handed over in its fields. The channel
// operations on start and done order the field accesses between the
// request's goroutine and the worker. done is unbuffered: the worker makes
// itself idle again only after its caller has taken the result, or the next
// caller could take that result for its own and return with its call still
// running.
type worker struct {
	start chan struct{}
	done  chan any // the handler's panic value, or nil; unbuffered
	h     http.Handler
	w     http.ResponseWriter
	r     *http.Request
}

// newWorkerPool starts n workers; stop ends them.
func newWorkerPool(n int) *workerPool {
	p := &workerPool{quit: make(chan struct{}), idle: make([]*worker, 0, n)}
	for range n {
		wk := &worker{start: make(chan struct{}), done: make(chan any)}
		p.idle = append(p.idle, wk)
		go p.run(wk)
	}
	return p
}

// stop ends the workers; calls arriving afterwards run on their own
// goroutines. It is idempotent.
func (p *workerPool) stop() { p.once.Do(func() { close(p.quit) }) }

func (p *workerPool) run(wk *worker) {
	for {
		select {
		case <-wk.start:
		case <-p.quit:
			return
		}
		wk.done <- wk.serve()
		p.mu.Lock()
		p.idle = append(p.idle, wk)
		p.mu.Unlock()
	}
}

// serve runs the handed-over call and returns its panic value, if any.
func (wk *worker) serve() (panicked any) {
	defer func() {
		panicked = recover()
		wk.h, wk.w, wk.r = nil, nil, nil
	}()
	wk.h.ServeHTTP(wk.w, wk.r)
	return nil
}

// serveHTTP serves r with h on an idle worker, or on the calling goroutine
// when there is none. A panic in h is re-raised on the calling goroutine,
// where net/http handles it as if nothing had moved.
func (p *workerPool) serveHTTP(h http.Handler, w http.ResponseWriter, r *http.Request) {
	if p == nil {
		h.ServeHTTP(w, r)
		return
	}
	wk := p.take()
	if wk == nil {
		h.ServeHTTP(w, r)
		return
	}
	wk.h, wk.w, wk.r = h, w, r
	select {
	case wk.start <- struct{}{}:
	case <-p.quit:
		wk.h, wk.w, wk.r = nil, nil, nil
		h.ServeHTTP(w, r)
		return
	}
	if v := <-wk.done; v != nil {
		panic(v)
	}
}

func (p *workerPool) take() *worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	wk := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	return wk
}
