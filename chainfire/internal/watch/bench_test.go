package watch

import (
	"context"
	"fmt"
	"testing"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
)

// BenchmarkCommittedToNext measures the hub alone: a committed batch of
// one put handed to Committed until the watcher's stream returns it, with
// 1,000 other watchers (single keys and prefixes) on the same stream.
func BenchmarkCommittedToNext(b *testing.B) {
	e := newEnv(b, Options{})
	s := e.stream()
	for i := range 1000 {
		key := []byte(fmt.Sprintf("other/%04d", i))
		req := Request{Key: key}
		if i%2 == 1 {
			req.End = append(key, 0xff)
		}
		s.Watch(req)
		next(b, s)
	}
	id := s.Watch(Request{Key: []byte("bench")})
	created(b, s, id)
	ctx := context.Background()
	rev := e.hub.Rev()
	ev := []mvcc.Event{{Type: mvcc.EventPut, KV: mvcc.KeyValue{Key: []byte("bench"), Value: []byte("v")}}}
	b.ReportAllocs()
	for b.Loop() {
		rev++
		ev[0].Rev = mvcc.Revision{Main: rev}
		ev[0].KV.ModRevision = rev
		e.hub.Committed(rev, ev)
		r, err := s.Next(ctx)
		if err != nil || len(r.Events) != 1 {
			b.Fatalf("got %v %v", describe(r), err)
		}
	}
}
