package watch

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/photoncloud/core/chainfire/internal/mvcc"
)

// checkSeq fails unless evs are exactly one put per revision from..to.
func checkSeq(t *testing.T, what string, evs []mvcc.Event, from, to int64) {
	t.Helper()
	if int64(len(evs)) != to-from+1 {
		t.Fatalf("%s: %d events, want %d (revisions %d..%d)", what, len(evs), to-from+1, from, to)
	}
	for i, ev := range evs {
		if ev.Rev.Main != from+int64(i) {
			t.Fatalf("%s: event %d at revision %d, want %d (gap or duplicate)", what, i, ev.Rev.Main, from+int64(i))
		}
	}
}

// TestReplayBoundary: watchers starting in the past while writers keep
// writing get every revision from their start on, once, in order: the
// switch from history to live events has no gap and no duplicate. Small
// catch-up reads force many history passes racing the writers.
func TestReplayBoundary(t *testing.T) {
	e := newEnv(t, Options{SyncBatchEvents: 7})
	var last int64
	for i := range 200 {
		last = e.put(fmt.Sprintf("k%03d", i%10), "v")
	}
	s := e.stream()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			written.Store(e.put(fmt.Sprintf("k%03d", i%10), "live"))
		}
	}()
	starts := []int64{2, 50, last - 3, last}
	ids := map[int64]int64{}
	for _, st := range starts {
		ids[s.Watch(Request{Key: []byte("k"), End: []byte("l"), StartRev: st})] = st
	}
	got := map[int64][]mvcc.Event{}
	createdN := 0
	for createdN < len(starts) || minLen(got, ids) < 400 {
		r := next(t, s)
		if r.Created {
			createdN++
			continue
		}
		got[r.WatchID] = append(got[r.WatchID], r.Events...)
	}
	close(stop)
	wg.Wait()
	end := written.Load()
	for id, st := range ids {
		for int64(len(got[id])) < end-st+1 {
			r := next(t, s)
			got[r.WatchID] = append(got[r.WatchID], r.Events...)
		}
	}
	for id, st := range ids {
		checkSeq(t, fmt.Sprintf("watch from %d", st), got[id], st, end)
	}
	noResponse(t, s)
}

func minLen(got map[int64][]mvcc.Event, ids map[int64]int64) int {
	m := -1
	for id := range ids {
		if n := len(got[id]); m < 0 || n < m {
			m = n
		}
	}
	return m
}

// TestSlowWatcherBounded: a stream that is never read while writers keep
// writing holds no more than its buffer limit; the writers never wait for
// it; when the client finally reads, every event arrives, in order, caught
// up from the store; and other streams are served live meanwhile.
func TestSlowWatcherBounded(t *testing.T) {
	const limit = 256 << 10
	e := newEnv(t, Options{StreamBufferBytes: limit, StreamBufferResponses: 64})
	stuck := e.stream()
	id := stuck.Watch(Request{Key: []byte("k"), End: []byte{0}, PrevKV: true})
	fast := e.stream()
	fid := fast.Watch(Request{Key: []byte("k"), End: []byte{0}})
	created(t, fast, fid)
	value := strings.Repeat("x", 1024)
	first := e.Rev() + 1
	var peak int
	const writes, perEntry = 3000, 10
	for i := 0; i < writes; i += perEntry {
		txns := make([]func(tx *mvcc.WriteTxn) error, perEntry)
		for j := range txns {
			txns[j] = putTxn(fmt.Sprintf("k%04d", (i+j)%50), value)
		}
		e.batch(txns...)
		if _, b := stuck.q.usage(); b > peak {
			peak = b
		}
		// The fast stream keeps up live while the stuck one is stuck.
		collect(t, fast, fid, perEntry)
	}
	// One response may exceed the byte limit when the queue is empty, so
	// allow one batch of slack.
	if peak > limit+perEntry*4096 {
		t.Fatalf("stuck stream queued %d bytes, limit %d", peak, limit)
	}
	if st := e.hub.Stats(); st.Unsynced != 1 {
		t.Fatalf("the stuck watcher should be unsynced: %+v", st)
	}
	created(t, stuck, id)
	evs := collect(t, stuck, id, writes)
	checkSeq(t, "stuck watcher", evs, first, first+writes-1)
	for _, ev := range evs[50:] {
		if ev.PrevKV == nil || ev.PrevKV.ModRevision != ev.Rev.Main-50 || !bytes.Equal(ev.PrevKV.Key, ev.KV.Key) {
			t.Fatalf("event at %d: prev %+v", ev.Rev.Main, ev.PrevKV)
		}
	}
	if st := e.hub.Stats(); st.Unsynced != 0 {
		t.Fatalf("caught-up watcher still unsynced: %+v", st)
	}
}

// Rev is the store's current revision.
func (e *env) Rev() int64 { return e.store.Rev() }

// TestSlowWatcherCompacted: a watcher that fell behind past a compaction
// is cancelled with the compact revision after the events it was given.
func TestSlowWatcherCompacted(t *testing.T) {
	e := newEnv(t, Options{StreamBufferResponses: 4})
	s := e.stream()
	id := s.Watch(Request{Key: []byte("k")})
	first := e.Rev() + 1
	var last int64
	for range 100 {
		last = e.put("k", "v")
	}
	e.compact(last - 10)
	created(t, s, id)
	var evs []mvcc.Event
	for {
		r := next(t, s)
		if r.Canceled {
			if r.CompactRev != last-10 || r.WatchID != id {
				t.Fatalf("cancel %s, want compact revision %d", describe(r), last-10)
			}
			break
		}
		evs = append(evs, r.Events...)
	}
	if len(evs) == 0 || len(evs) > 10 {
		t.Fatalf("got %d events before the cancel, want the few that fit the queue", len(evs))
	}
	checkSeq(t, "before the cancel", evs, first, first+int64(len(evs))-1)
	if st := e.hub.Stats(); st.Watchers != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRestored: after the store is replaced by a snapshot, every watcher
// gets the revisions it missed from the new store, then live events.
func TestRestored(t *testing.T) {
	leader := newEnv(t, Options{})
	follower := newEnv(t, Options{})
	for i := range 5 {
		leader.put(fmt.Sprintf("k%d", i), "v")
		follower.put(fmt.Sprintf("k%d", i), "v")
	}
	s := follower.stream()
	id := s.Watch(Request{Key: []byte("k"), End: []byte("l")})
	created(t, s, id)
	from := leader.Rev() + 1
	for i := range 20 {
		leader.put(fmt.Sprintf("k%d", i%7), "new")
	}
	var buf bytes.Buffer
	if _, err := leader.store.WriteSnapshot(&buf); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if err := follower.store.Restore(&buf); err != nil {
		t.Fatalf("restore: %v", err)
	}
	follower.hub.Restored(follower.Rev())
	live := follower.put("k9", "live")
	evs := collect(t, s, id, int(live-from+1))
	checkSeq(t, "after restore", evs, from, live)
}

// TestCloseEndsStreams: closing the hub ends every stream's Next.
func TestCloseEndsStreams(t *testing.T) {
	e := newEnv(t, Options{})
	s := e.stream()
	created(t, s, s.Watch(Request{Key: []byte("k")}))
	e.hub.Close()
	if _, err := s.Next(t.Context()); err != ErrClosed {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
	if _, err := e.hub.NewStream(); err != ErrClosed {
		t.Fatalf("NewStream after Close: %v", err)
	}
	e.put("k", "v") // Committed after Close is harmless
}
