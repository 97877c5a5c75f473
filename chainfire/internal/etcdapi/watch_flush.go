package etcdapi

import (
	"context"
	"net/http"
	"sync"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/chainfire/internal/member"
	"github.com/photoncloud/core/proto/etcdserverpb/etcdserverpbconnect"
)

// NewWatchHandler returns the Watch service's path and handler. The
// handler lets a stream's sender coalesce flushes: connect flushes after
// every message, and on HTTP/2 each flush is a round trip to the
// connection's writer goroutine and a write system call. A stream sending
// one response to each of hundreds of watchers after a put would pay that
// hundreds of times; instead the sender holds flushes while it has more
// queued and flushes once when it runs dry, as gRPC's own transport
// batches writes.
func NewWatchHandler(m *member.Member, opts WatchOptions, hopts ...connect.HandlerOption) (string, http.Handler) {
	path, h := etcdserverpbconnect.NewWatchHandler(NewWatch(m, opts), hopts...)
	return path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		bw := &batchingWriter{ResponseWriter: w, flusher: f}
		h.ServeHTTP(bw, r.WithContext(context.WithValue(r.Context(), batchingKey{}, bw)))
	})
}

type batchingKey struct{}

// batchingWriter defers Flush while held.
type batchingWriter struct {
	http.ResponseWriter
	flusher http.Flusher

	mu      sync.Mutex
	held    bool
	pending bool
}

// Flush flushes now unless flushes are held, in which case it is owed.
func (b *batchingWriter) Flush() {
	b.mu.Lock()
	if b.held {
		b.pending = true
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	b.flusher.Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (b *batchingWriter) Unwrap() http.ResponseWriter { return b.ResponseWriter }

// hold starts deferring flushes.
func (b *batchingWriter) hold() {
	b.mu.Lock()
	b.held = true
	b.mu.Unlock()
}

// release stops deferring and performs a flush that was owed.
func (b *batchingWriter) release() {
	b.mu.Lock()
	owed := b.pending
	b.held, b.pending = false, false
	b.mu.Unlock()
	if owed {
		b.flusher.Flush()
	}
}

// flushBatcher returns the stream's batching writer, or a no-op one when
// the handler was mounted without it (tests, other transports).
func flushBatcher(ctx context.Context) interface {
	hold()
	release()
} {
	if b, ok := ctx.Value(batchingKey{}).(*batchingWriter); ok {
		return b
	}
	return noBatching{}
}

type noBatching struct{}

func (noBatching) hold()    {}
func (noBatching) release() {}
