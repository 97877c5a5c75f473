package etcdapi

import (
	"net/http/httptest"
	"testing"
)

type countingFlusher struct {
	*httptest.ResponseRecorder
	n int
}

func (c *countingFlusher) Flush() { c.n++ }

// TestBatchingWriter: flushes asked for while held are coalesced into one
// at release; unheld flushes go straight through.
func TestBatchingWriter(t *testing.T) {
	f := &countingFlusher{ResponseRecorder: httptest.NewRecorder()}
	b := &batchingWriter{ResponseWriter: f, flusher: f}
	b.Flush()
	if f.n != 1 {
		t.Fatalf("unheld flush: %d flushes", f.n)
	}
	b.hold()
	b.Flush()
	b.Flush()
	b.Flush()
	if f.n != 1 {
		t.Fatalf("held flushes went through: %d", f.n)
	}
	b.release()
	if f.n != 2 {
		t.Fatalf("release performed %d flushes, want the one owed", f.n-1)
	}
	b.hold()
	b.release()
	if f.n != 2 {
		t.Fatalf("release without an owed flush flushed")
	}
}
