package watch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/photoncloud/core/chainfire/internal/etcderr"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
)

// TestLiveOrderAndAtomicity: live events come in revision order, every
// transaction's events in one response, even when one Raft entry carries
// several transactions.
func TestLiveOrderAndAtomicity(t *testing.T) {
	e := newEnv(t, Options{})
	s := e.stream()
	id := s.Watch(Request{Key: []byte("k/"), End: []byte("k0")})
	created(t, s, id)
	base := e.put("k/a", "1")
	last := e.batch(putTxn("k/b", "2", "k/c", "3", "other", "x"), delTxn("k/a"), putTxn("k/d", "4"))
	r1 := next(t, s)
	r2 := next(t, s)
	if len(r1.Events) != 1 || string(r1.Events[0].KV.Key) != "k/a" {
		t.Fatalf("first response %s", describe(r1))
	}
	want := []string{
		fmt.Sprintf("PUT k/b@%d", base+1), fmt.Sprintf("PUT k/c@%d", base+1),
		fmt.Sprintf("DELETE k/a@%d", base+2), fmt.Sprintf("PUT k/d@%d", base+3),
	}
	if len(r2.Events) != len(want) {
		t.Fatalf("second response %s, want one response with %v", describe(r2), want)
	}
	for i, ev := range r2.Events {
		if got := fmt.Sprintf("%s %s@%d", ev.Type, ev.KV.Key, ev.Rev.Main); got != want[i] {
			t.Fatalf("event %d: %s, want %s", i, got, want[i])
		}
		if ev.PrevKV != nil {
			t.Fatalf("event %d carries PrevKV without prev_kv", i)
		}
	}
	if r2.Rev != last || last != base+3 {
		t.Fatalf("header revision %d, want %d", r2.Rev, base+3)
	}
}

// TestKeyRanges: single key, range, prefix, "from key" and the empty key.
func TestKeyRanges(t *testing.T) {
	e := newEnv(t, Options{})
	s := e.stream()
	ids := map[string]int64{
		"single": s.Watch(Request{Key: []byte("b")}),
		"range":  s.Watch(Request{Key: []byte("b"), End: []byte("d")}),
		"from":   s.Watch(Request{Key: []byte("c"), End: []byte{0}}),
		"all":    s.Watch(Request{Key: nil, End: []byte{0}}),
	}
	for range ids {
		next(t, s) // created
	}
	for _, k := range []string{"a", "b", "c", "d", "zz"} {
		e.put(k, "v")
	}
	want := map[int64][]string{
		ids["single"]: {"b"},
		ids["range"]:  {"b", "c"},
		ids["from"]:   {"c", "d", "zz"},
		ids["all"]:    {"a", "b", "c", "d", "zz"},
	}
	got := map[int64][]string{}
	total := 0
	for _, w := range want {
		total += len(w)
	}
	for n := 0; n < total; {
		r := next(t, s)
		for _, ev := range r.Events {
			got[r.WatchID] = append(got[r.WatchID], string(ev.KV.Key))
			n++
		}
	}
	for id, w := range want {
		if fmt.Sprint(got[id]) != fmt.Sprint(w) {
			t.Errorf("watch %d got %v, want %v", id, got[id], w)
		}
	}
}

// TestCreateRules: ids, refusals and cancel follow etcd.
func TestCreateRules(t *testing.T) {
	e := newEnv(t, Options{})
	head := e.put("x", "1")
	s := e.stream()
	if id := s.Watch(Request{Key: []byte("a")}); id != 0 {
		t.Fatalf("first automatic id %d, want 0", id)
	}
	r := created(t, s, 0)
	if r.Rev != head {
		t.Fatalf("created header revision %d, want %d", r.Rev, head)
	}
	if id := s.Watch(Request{ID: 1, Key: []byte("a")}); id != 1 {
		t.Fatalf("client-chosen id: got %d", id)
	}
	created(t, s, 1)
	if id := s.Watch(Request{Key: []byte("a")}); id != 2 {
		t.Fatalf("automatic id skipping a used one: %d, want 2", id)
	}
	created(t, s, 2)
	refused := func(req Request, reason string) {
		t.Helper()
		if id := s.Watch(req); id != InvalidID {
			t.Fatalf("%+v: got id %d, want a refusal", req, id)
		}
		r := next(t, s)
		if !r.Created || !r.Canceled || r.WatchID != InvalidID || r.CancelReason != reason {
			t.Fatalf("%+v: got %s, want created+canceled with %q", req, describe(r), reason)
		}
	}
	refused(Request{ID: 1, Key: []byte("a")}, ErrDuplicateID.Error())
	refused(Request{Key: []byte("b"), End: []byte("a")}, ErrEmptyRange.Error())
	refused(Request{Key: []byte("a"), StartRev: -1}, etcderr.Compacted.Msg)

	s.Cancel(1)
	if r := next(t, s); !r.Canceled || r.WatchID != 1 || r.Created {
		t.Fatalf("cancel: got %s", describe(r))
	}
	s.Cancel(1) // unknown now: ignored
	e.put("a", "2")
	got := map[int64]bool{}
	for range 2 {
		got[next(t, s).WatchID] = true
	}
	if !got[0] || !got[2] || got[1] {
		t.Fatalf("events went to %v, want watches 0 and 2", got)
	}
	noResponse(t, s)
	if st := e.hub.Stats(); st.Watchers != 2 || st.Streams != 1 {
		t.Fatalf("stats %+v", st)
	}
	s.Close()
	if st := e.hub.Stats(); st.Watchers != 0 || st.Streams != 0 {
		t.Fatalf("after close: stats %+v", st)
	}
}

// TestFiltersAndPrevKV checks NOPUT, NODELETE and prev_kv, live and
// replayed from history.
func TestFiltersAndPrevKV(t *testing.T) {
	e := newEnv(t, Options{})
	e.put("k", "v1") // 1
	e.put("k", "v2") // 2
	e.del("k")       // 3
	e.put("k", "v4") // 4
	for _, start := range []int64{1, 0} {
		t.Run(fmt.Sprintf("start=%d", start), func(t *testing.T) {
			s := e.stream()
			noPut := s.Watch(Request{Key: []byte("k"), StartRev: start, NoPut: true, PrevKV: true})
			noDel := s.Watch(Request{Key: []byte("k"), StartRev: start, NoDelete: true, PrevKV: true})
			var evs map[int64][]mvcc.Event
			wantN := map[int64]int{noPut: 1, noDel: 3}
			if start == 0 {
				e.put("k", "live1")
				e.del("k")
				wantN = map[int64]int{noPut: 1, noDel: 1}
			}
			evs = map[int64][]mvcc.Event{}
			// A replaying watcher's events may come before the other's
			// created response; each watcher's own order is what counts.
			createdN := 0
			for n := 0; n < wantN[noPut]+wantN[noDel] || createdN < 2; {
				r := next(t, s)
				if r.Created {
					createdN++
					if len(evs[r.WatchID]) > 0 {
						t.Fatalf("watch %d: created after its events", r.WatchID)
					}
					continue
				}
				evs[r.WatchID] = append(evs[r.WatchID], r.Events...)
				n += len(r.Events)
			}
			for _, ev := range evs[noPut] {
				if ev.Type != mvcc.EventDelete || ev.PrevKV == nil || ev.PrevKV.ModRevision != ev.Rev.Main-1 {
					t.Fatalf("NOPUT watcher got %s with prev %+v", ev.Type, ev.PrevKV)
				}
			}
			for _, ev := range evs[noDel] {
				if ev.Type != mvcc.EventPut {
					t.Fatalf("NODELETE watcher got %s", ev.Type)
				}
				if ev.KV.Version == 1 && ev.PrevKV != nil {
					t.Fatalf("a create event at %d carries a previous version %+v", ev.Rev.Main, ev.PrevKV)
				}
				if ev.KV.Version > 1 && (ev.PrevKV == nil || ev.PrevKV.Version != ev.KV.Version-1) {
					t.Fatalf("put at %d: prev %+v", ev.Rev.Main, ev.PrevKV)
				}
			}
		})
	}
}

// TestCompactedStart: a start revision below the compact revision gets
// created, then canceled with the compact revision; one at or above it
// replays from there (etcd refuses only start < compact revision).
func TestCompactedStart(t *testing.T) {
	e := newEnv(t, Options{})
	var revs []int64
	for i := range 5 {
		revs = append(revs, e.put("k", fmt.Sprint(i)))
	}
	at := revs[2]
	e.compact(at)
	s := e.stream()
	for _, start := range []int64{revs[0], at - 1} {
		id := s.Watch(Request{Key: []byte("k"), StartRev: start})
		created(t, s, id)
		r := next(t, s)
		if !r.Canceled || r.CompactRev != at || r.WatchID != id || len(r.Events) != 0 {
			t.Fatalf("start %d: got %s, want canceled with compact revision %d", start, describe(r), at)
		}
	}
	for _, start := range []int64{at, at + 1} {
		id := s.Watch(Request{Key: []byte("k"), StartRev: start})
		created(t, s, id)
		evs := collect(t, s, id, int(revs[4]-start+1))
		checkSeq(t, fmt.Sprintf("start %d", start), evs, start, revs[4])
	}
	if st := e.hub.Stats(); st.Watchers != 2 {
		t.Fatalf("compacted watchers were not removed: %+v", st)
	}
}

// TestStartAtCompactRevision: a watch from the compact revision gets every
// change made at it — a delete (the tombstone survives compaction, as in
// etcd), an overwrite and a create in one txn — once physical compaction
// has run, then later changes. Events at the compact revision come
// without a previous version (compacted away; etcd sends none either),
// later ones with it.
func TestStartAtCompactRevision(t *testing.T) {
	e := newEnv(t, Options{})
	e.put("a", "1")
	e.put("b", "1")
	at := e.batch(func(tx *mvcc.WriteTxn) error {
		if _, _, err := tx.DeleteRange([]byte("a"), nil); err != nil {
			return err
		}
		if _, err := tx.Put([]byte("b"), []byte("2"), 0); err != nil {
			return err
		}
		_, err := tx.Put([]byte("c"), []byte("1"), 0)
		return err
	})
	after := e.put("c", "2")
	e.del("b")
	e.compact(at)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.store.WaitCompaction(ctx, at); err != nil {
		t.Fatalf("physical compaction: %v", err)
	}
	s := e.stream()
	id := s.Watch(Request{Key: []byte("a"), End: []byte("d"), StartRev: at, PrevKV: true})
	created(t, s, id)
	evs := collect(t, s, id, 5)
	want := []struct {
		typ       mvcc.EventType
		key, val  string
		rev       int64
		prev      string
		wantPrevs bool
	}{
		{mvcc.EventDelete, "a", "", at, "", false},
		{mvcc.EventPut, "b", "2", at, "", false},
		{mvcc.EventPut, "c", "1", at, "", false},
		{mvcc.EventPut, "c", "2", after, "1", true},
		{mvcc.EventDelete, "b", "", after + 1, "2", true},
	}
	for i, w := range want {
		ev := evs[i]
		if ev.Type != w.typ || string(ev.KV.Key) != w.key || string(ev.KV.Value) != w.val || ev.Rev.Main != w.rev {
			t.Fatalf("event %d: got %s %s=%q@%d, want %s %s=%q@%d", i, ev.Type, ev.KV.Key, ev.KV.Value, ev.Rev.Main, w.typ, w.key, w.val, w.rev)
		}
		if (ev.PrevKV != nil) != w.wantPrevs || (w.wantPrevs && string(ev.PrevKV.Value) != w.prev) {
			t.Fatalf("event %d (%s %s@%d): previous version %+v, want %q (sent: %v)", i, ev.Type, ev.KV.Key, ev.Rev.Main, ev.PrevKV, w.prev, w.wantPrevs)
		}
	}
	// Left: the tombstone of a, b and c at the compact revision, and the
	// two later changes.
	if n := records(t, e.store); n != 5 {
		t.Fatalf("%d records after compacting at %d, want 5", n, at)
	}
	// The spared tombstone is history only: reads at the compact
	// revision still see a deleted, and it goes with the next compaction.
	if res, err := e.store.Range([]byte("a"), nil, mvcc.RangeOptions{Rev: at}); err != nil || len(res.KVs) != 0 {
		t.Fatalf("read of the deleted key at the compact revision: %+v, %v", res.KVs, err)
	}
	e.compact(after)
	if err := e.store.WaitCompaction(ctx, after); err != nil {
		t.Fatalf("physical compaction: %v", err)
	}
	if n := records(t, e.store); n != 3 {
		t.Fatalf("%d records after compacting at %d, want 3 (b at %d, c and the delete of b)", n, after, at)
	}
	id = s.Watch(Request{Key: []byte("a"), End: []byte("d"), StartRev: after})
	created(t, s, id)
	evs = collect(t, s, id, 2)
	if evs[0].Rev.Main != after || evs[1].Rev.Main != after+1 || string(evs[0].KV.Key) != "c" {
		t.Fatalf("watch from the next compact revision: got %v", evs)
	}
}

// TestFutureStart: a start revision beyond the head delivers nothing
// before it and no progress that would point below it.
func TestFutureStart(t *testing.T) {
	e := newEnv(t, Options{})
	head := e.put("k", "1")
	s := e.stream()
	start := head + 3
	id := s.Watch(Request{Key: []byte("k"), StartRev: start, ProgressNotify: true})
	created(t, s, id)
	e.put("k", "2")
	s.ProgressTick()
	s.RequestProgress()
	noResponse(t, s)
	e.put("k", "3")
	e.put("k", "4") // at start: the progress request can now be answered
	r := next(t, s)
	if len(r.Events) != 1 || r.Events[0].Rev.Main != start {
		t.Fatalf("got %s, want the event at %d only", describe(r), start)
	}
	if p := next(t, s); !p.IsProgress() || p.WatchID != InvalidID || p.Rev != start {
		t.Fatalf("got %s, want stream progress at %d", describe(p), start)
	}
}

// TestProgress: a progress request answers at once when every watcher is
// synced, with the revision everything was delivered up to; periodic
// progress skips watchers that were sent events since the last tick.
func TestProgress(t *testing.T) {
	e := newEnv(t, Options{})
	head := e.put("a", "1")
	s := e.stream()
	quiet := s.Watch(Request{Key: []byte("q"), ProgressNotify: true})
	busy := s.Watch(Request{Key: []byte("a"), ProgressNotify: true})
	plain := s.Watch(Request{Key: []byte("p")})
	for _, id := range []int64{quiet, busy, plain} {
		created(t, s, id)
	}
	s.RequestProgress()
	if r := next(t, s); !r.IsProgress() || r.WatchID != InvalidID || r.Rev != head {
		t.Fatalf("got %s, want progress at %d", describe(r), head)
	}
	head = e.put("a", "2")
	collect(t, s, busy, 1)
	s.ProgressTick()
	if r := next(t, s); !r.IsProgress() || r.WatchID != quiet || r.Rev != head {
		t.Fatalf("got %s, want progress for the quiet watcher at %d", describe(r), head)
	}
	noResponse(t, s)
	s.ProgressTick()
	got := map[int64]int64{}
	for range 2 {
		r := next(t, s)
		if !r.IsProgress() {
			t.Fatalf("got %s, want progress", describe(r))
		}
		got[r.WatchID] = r.Rev
	}
	if got[quiet] != head || got[busy] != head {
		t.Fatalf("second tick: progress %v, want both notify watchers at %d", got, head)
	}
	noResponse(t, s)
}

// TestThousandWatches: 1,000 watchers on one stream and 1,000 spread over
// 100 streams each get exactly their key's events.
func TestThousandWatches(t *testing.T) {
	e := newEnv(t, Options{})
	one := e.stream()
	streams := make([]*Stream, 100)
	for i := range streams {
		streams[i] = e.stream()
	}
	const n = 1000
	for i := range n {
		key := []byte(fmt.Sprintf("key/%04d", i))
		if id := one.Watch(Request{Key: key}); id != int64(i) {
			t.Fatalf("watch %d got id %d", i, id)
		}
		streams[i%100].Watch(Request{Key: key, End: append(key, 0)})
	}
	for range n {
		next(t, one)
	}
	for i := range n {
		next(t, streams[i%100])
	}
	// Ten Raft entries of 100 transactions each (one fsync per entry).
	for b := range n / 100 {
		txns := make([]func(tx *mvcc.WriteTxn) error, 100)
		for i := range txns {
			txns[i] = putTxn(fmt.Sprintf("key/%04d", b*100+i), "v")
		}
		e.batch(txns...)
	}
	// More puts than a queue holds: the single stream's watchers fall
	// behind and are caught up from the store, in any order of watchers.
	seen := map[int64]bool{}
	for range n {
		r := next(t, one)
		if len(r.Events) != 1 || string(r.Events[0].KV.Key) != fmt.Sprintf("key/%04d", r.WatchID) || seen[r.WatchID] {
			t.Fatalf("single-stream watch: %s", describe(r))
		}
		seen[r.WatchID] = true
	}
	for i := range n {
		r := next(t, streams[i%100])
		if len(r.Events) != 1 || string(r.Events[0].KV.Key) != fmt.Sprintf("key/%04d", i) {
			t.Fatalf("range watch %d: %s", i, describe(r))
		}
	}
	if st := e.hub.Stats(); st.Watchers != 2*n || st.Unsynced != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPrefixIndex: prefix watchers are found through the prefix index,
// including prefixes ending in 0xff bytes, and ranges that only look like
// prefixes are not.
func TestPrefixIndex(t *testing.T) {
	e := newEnv(t, Options{})
	s := e.stream()
	reqs := map[string]Request{
		"prefix a/":     {Key: []byte("a/"), End: []byte("a0")},
		"prefix a":      {Key: []byte("a"), End: []byte("b")},
		"prefix x\xff":  {Key: []byte("x\xff"), End: []byte("y")},
		"range a/..a/m": {Key: []byte("a/"), End: []byte("a/m")},
	}
	ids := map[int64]string{}
	for name, r := range reqs {
		ids[s.Watch(r)] = name
		next(t, s)
	}
	for _, k := range []string{"a/b", "a/z", "a", "ab", "x\xff\x01", "x\xfe", "b"} {
		e.put(k, "v")
	}
	want := map[string]string{
		"prefix a/":     "[a/b a/z]",
		"prefix a":      "[a/b a/z a ab]",
		"prefix x\xff":  "[x\xff\x01]",
		"range a/..a/m": "[a/b]",
	}
	got := map[string][]string{}
	for n := 0; n < 8; {
		r := next(t, s)
		for _, ev := range r.Events {
			got[ids[r.WatchID]] = append(got[ids[r.WatchID]], string(ev.KV.Key))
			n++
		}
	}
	for name, w := range want {
		if fmt.Sprint(got[name]) != w {
			t.Errorf("%s: got %q, want %s", name, got[name], w)
		}
	}
	noResponse(t, s)
	if p := prefixEnd([]byte("\xff\xff")); p != nil {
		t.Fatalf("prefixEnd of all 0xff: %q", p)
	}
}

// TestWatcherSetAll: every kind of watcher is listed, and removal undoes
// addition.
func TestWatcherSetAll(t *testing.T) {
	set := newWatcherSet()
	ws := []*watcher{
		{key: []byte("k")},
		{key: []byte("p"), end: []byte("q")},
		{key: []byte("a"), end: []byte("c")},
		{key: []byte("z"), end: []byte{}},
	}
	for _, w := range ws {
		set.add(w)
	}
	if got := len(set.all()); got != len(ws) || set.n != len(ws) {
		t.Fatalf("all() lists %d of %d (n=%d)", got, len(ws), set.n)
	}
	for _, w := range ws {
		set.remove(w)
		set.remove(w) // twice: harmless
	}
	if set.n != 0 || len(set.all()) != 0 || len(set.keys)+len(set.prefixes)+len(set.ranges) != 0 {
		t.Fatalf("after removing everything: n=%d %+v", set.n, set)
	}
}

// TestStartAtCompactRevisionPending: with batched backend commits, a watch
// from the compact revision replays it (committed with the compaction) and
// the changes after it that are still in the store's open write batch.
func TestStartAtCompactRevisionPending(t *testing.T) {
	e := newEnvStore(t, mvcc.Options{BatchInterval: time.Hour}, Options{})
	e.put("a", "1")
	at := e.batch(func(tx *mvcc.WriteTxn) error {
		if err := delTxn("a")(tx); err != nil {
			return err
		}
		return putTxn("b", "1")(tx)
	})
	later := e.put("b", "2")
	e.compact(at)
	s := e.stream()
	id := s.Watch(Request{Key: []byte("a"), End: []byte("c"), StartRev: at})
	created(t, s, id)
	evs := collect(t, s, id, 3)
	got := fmt.Sprintf("%s %s@%d, %s %s@%d, %s %s@%d", evs[0].Type, evs[0].KV.Key, evs[0].Rev.Main,
		evs[1].Type, evs[1].KV.Key, evs[1].Rev.Main, evs[2].Type, evs[2].KV.Key, evs[2].Rev.Main)
	want := fmt.Sprintf("%s a@%d, %s b@%d, %s b@%d", mvcc.EventDelete, at, mvcc.EventPut, at, mvcc.EventPut, later)
	if got != want {
		t.Fatalf("watch from the compact revision with its changes pending: got %s, want %s", got, want)
	}
}

// records counts the revision records in the store's key bucket.
func records(t *testing.T, st *mvcc.Store) int {
	t.Helper()
	n := 0
	err := st.Read(func(r *mvcc.ReadTxn) error {
		b := r.Tx().Bucket([]byte("key"))
		if b == nil {
			return fmt.Errorf("no key bucket")
		}
		n = b.Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
