package watch

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
)

// env is a store and a hub fed the way the Raft applier feeds it: every
// Update reports its committed batch to the hub.
type env struct {
	t     testing.TB
	store *mvcc.Store
	hub   *Hub
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	return newEnvStore(t, mvcc.Options{}, opts)
}

// newEnvStore is newEnv with the store's options.
func newEnvStore(t testing.TB, storeOpts mvcc.Options, opts Options) *env {
	t.Helper()
	st, err := mvcc.Open(filepath.Join(t.TempDir(), "db"), storeOpts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	h, err := NewHub(st, opts)
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	t.Cleanup(func() {
		h.Close()
		_ = st.Close()
	})
	return &env{t: t, store: st, hub: h}
}

// batch applies one Raft entry holding the given transactions.
func (e *env) batch(txns ...func(tx *mvcc.WriteTxn) error) int64 {
	e.t.Helper()
	var rev int64
	err := e.store.Update(e.store.AppliedIndex()+1, 1, func(b *mvcc.Batch) error {
		b.OnCommit(e.hub.Committed)
		for _, fn := range txns {
			if _, err := b.Txn(fn); err != nil {
				return err
			}
		}
		rev = b.Rev()
		return nil
	})
	if err != nil {
		e.t.Fatalf("update: %v", err)
	}
	return rev
}

func putTxn(kvs ...string) func(tx *mvcc.WriteTxn) error {
	return func(tx *mvcc.WriteTxn) error {
		for i := 0; i+1 < len(kvs); i += 2 {
			if _, err := tx.Put([]byte(kvs[i]), []byte(kvs[i+1]), 0); err != nil {
				return err
			}
		}
		return nil
	}
}

func delTxn(key string) func(tx *mvcc.WriteTxn) error {
	return func(tx *mvcc.WriteTxn) error {
		_, _, err := tx.DeleteRange([]byte(key), nil)
		return err
	}
}

func (e *env) put(key, val string) int64 { e.t.Helper(); return e.batch(putTxn(key, val)) }
func (e *env) del(key string) int64      { e.t.Helper(); return e.batch(delTxn(key)) }

func (e *env) compact(rev int64) {
	e.t.Helper()
	err := e.store.Update(e.store.AppliedIndex()+1, 1, func(b *mvcc.Batch) error {
		b.OnCommit(e.hub.Committed)
		return b.Compact(rev)
	})
	if err != nil {
		e.t.Fatalf("compact: %v", err)
	}
}

func (e *env) stream() *Stream {
	e.t.Helper()
	s, err := e.hub.NewStream()
	if err != nil {
		e.t.Fatalf("NewStream: %v", err)
	}
	e.t.Cleanup(s.Close)
	return s
}

// next returns the stream's next response, failing after a generous wait.
func next(t testing.TB, s *Stream) Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("waiting for a response: %v", err)
	}
	return r
}

// created checks that the next response creates a watcher with id.
func created(t testing.TB, s *Stream, id int64) Response {
	t.Helper()
	r := next(t, s)
	if !r.Created || r.Canceled || r.WatchID != id {
		t.Fatalf("got %s, want created watch %d", describe(r), id)
	}
	return r
}

// collect reads event responses of watcher id until n events arrived.
func collect(t testing.TB, s *Stream, id int64, n int) []mvcc.Event {
	t.Helper()
	var out []mvcc.Event
	for len(out) < n {
		r := next(t, s)
		if r.WatchID != id || r.Canceled || r.Created || len(r.Events) == 0 {
			t.Fatalf("after %d of %d events: unexpected %s", len(out), n, describe(r))
		}
		out = append(out, r.Events...)
	}
	if len(out) != n {
		t.Fatalf("got %d events, want %d", len(out), n)
	}
	return out
}

func describe(r Response) string {
	s := fmt.Sprintf("{id=%d rev=%d created=%v canceled=%v compact=%d reason=%q events=[", r.WatchID, r.Rev, r.Created, r.Canceled, r.CompactRev, r.CancelReason)
	for i, ev := range r.Events {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s %s@%d", ev.Type, ev.KV.Key, ev.Rev.Main)
	}
	return s + "]}"
}

// noResponse checks that nothing is queued on s right now.
func noResponse(t testing.TB, s *Stream) {
	t.Helper()
	if n, _ := s.q.usage(); n != 0 {
		r := next(t, s)
		t.Fatalf("unexpected response %s", describe(r))
	}
}
