package mvcc

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func waitCompact(t testing.TB, s *Store, rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitCompaction(ctx, rev); err != nil {
		t.Fatalf("WaitCompaction(%d): %v", rev, err)
	}
}

func TestCompactSemantics(t *testing.T) {
	s := openTest(t, Options{})
	put(t, s, "a", "1") // 2
	put(t, s, "a", "2") // 3  a's newest <= 7: only older history
	put(t, s, "b", "1") // 4
	del(t, s, "b", "")  // 5  tombstone before the compaction point
	put(t, s, "c", "1") // 6
	del(t, s, "c", "")  // 7  tombstone at the compaction point: kept as history
	put(t, s, "d", "1") // 8  history only after
	put(t, s, "a", "3") // 9
	before := map[int64]string{}
	for rev := int64(7); rev <= 9; rev++ {
		before[rev] = all(t, s, rev)
	}
	compact(t, s, 7)
	if s.CompactRev() != 7 || s.Rev() != 9 {
		t.Fatalf("compact rev %d rev %d", s.CompactRev(), s.Rev())
	}
	waitCompact(t, s, 7)
	for rev, want := range before {
		if got := all(t, s, rev); got != want {
			t.Errorf("at %d after compaction: %q, want %q", rev, got, want)
		}
	}
	if got := all(t, s, 7); got != "a=2(c2 m3 v2 l0) " {
		t.Errorf("at compact rev: %q", got)
	}
	if recs := records(t, s); !reflect.DeepEqual(recs, []string{"3.0", "7.0t", "8.0", "9.0"}) {
		t.Errorf("records after compaction %v", recs)
	}
	wantIdx := "\"a\": [c2 v3 [3.0 9.0]]\n\"d\": [c8 v1 [8.0]]\n"
	if got := dumpIndex(s); got != wantIdx {
		t.Errorf("index after compaction:\n%s\nwant:\n%s", got, wantIdx)
	}
	if m := readMetaOf(t, s); m.scheduled != 7 || m.finished != 7 {
		t.Errorf("meta %+v", m)
	}
	// History keeps going with the right versions; deleted keys start over.
	put(t, s, "a", "4")
	put(t, s, "c", "2")
	if got := all(t, s, 0); got != "a=4(c2 m10 v4 l0) c=2(c11 m11 v1 l0) d=1(c8 m8 v1 l0) " {
		t.Errorf("after compaction writes: %q", got)
	}
}

func TestCompactAcrossGenerations(t *testing.T) {
	s := openTest(t, Options{})
	put(t, s, "k", "1") // 2
	del(t, s, "k", "")  // 3
	put(t, s, "k", "2") // 4
	put(t, s, "k", "3") // 5
	del(t, s, "k", "")  // 6
	put(t, s, "k", "4") // 7
	compact(t, s, 5)
	waitCompact(t, s, 5)
	if recs := records(t, s); !reflect.DeepEqual(recs, []string{"5.0", "6.0t", "7.0"}) {
		t.Fatalf("records %v", recs)
	}
	for rev, want := range map[int64]string{5: "k=3(c4 m5 v2 l0) ", 6: "", 7: "k=4(c7 m7 v1 l0) "} {
		if got := all(t, s, rev); got != want {
			t.Errorf("at %d: %q, want %q", rev, got, want)
		}
	}
	compact(t, s, 6) // the tombstone is now the newest <= 6: its generation goes
	waitCompact(t, s, 6)
	if recs := records(t, s); !reflect.DeepEqual(recs, []string{"6.0t", "7.0"}) {
		t.Fatalf("records %v (the tombstone at the compaction point stays as history)", recs)
	}
	compact(t, s, 7)
	waitCompact(t, s, 7)
	if recs := records(t, s); !reflect.DeepEqual(recs, []string{"7.0"}) {
		t.Fatalf("records %v (the next compaction takes the tombstone)", recs)
	}
}

func TestCompactEverythingKeepsRevision(t *testing.T) {
	s := openTest(t, Options{})
	put(t, s, "k", "1")
	del(t, s, "k", "")
	compact(t, s, 3)
	waitCompact(t, s, 3)
	if recs := records(t, s); !reflect.DeepEqual(recs, []string{"3.0t"}) {
		t.Fatalf("records %v, want only the tombstone at the compaction point", recs)
	}
	s = reopen(t, s, Options{})
	if s.Rev() != 3 || s.CompactRev() != 3 {
		t.Fatalf("after reopen rev %d compact %d, want 3 3", s.Rev(), s.CompactRev())
	}
	if res := put(t, s, "k", "2"); res.Rev != 4 {
		t.Fatalf("next revision %d, want 4", res.Rev)
	}
}

func TestCompactInsideBatch(t *testing.T) {
	s := openTest(t, Options{})
	put(t, s, "k", "1") // 2
	err := update(s, func(b *Batch) error {
		if _, err := b.Txn(func(tx *WriteTxn) error {
			_, err := tx.Put([]byte("k"), []byte("2"), 0) // 3
			return err
		}); err != nil {
			return err
		}
		if err := b.Compact(4); !errors.Is(err, ErrFutureRev) {
			t.Errorf("compact beyond batch rev: %v", err)
		}
		if err := b.Compact(3); err != nil {
			return err
		}
		if err := b.Compact(3); !errors.Is(err, ErrCompacted) {
			t.Errorf("compact twice in batch: %v", err)
		}
		_, err := b.Txn(func(tx *WriteTxn) error {
			if _, err := tx.Range([]byte("k"), nil, RangeOptions{Rev: 2}); !errors.Is(err, ErrCompacted) {
				t.Errorf("read below pending compaction: %v", err)
			}
			_, err := tx.Put([]byte("k"), []byte("3"), 0) // 4
			return err
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitCompact(t, s, 3)
	if recs := records(t, s); !reflect.DeepEqual(recs, []string{"3.0", "4.0"}) {
		t.Fatalf("records %v", recs)
	}
}

// crashHook stops physical compaction after batch stopAt, like a crash.
func crashHook(stopAt int, stopped chan<- struct{}) *testHooks {
	return &testHooks{afterCompactBatch: func(batch int) error {
		if batch == stopAt {
			close(stopped)
			return errors.New("crash")
		}
		return nil
	}}
}

// fillHistory writes keys*versions puts, 64 txns per Update, deleting every
// third key at the end.
func fillHistory(t testing.TB, s *Store, keys, versions int, value []byte) {
	t.Helper()
	n := 0
	for v := 0; v < versions; v++ {
		for k := 0; k < keys; k += 64 {
			err := update(s, func(b *Batch) error {
				for j := k; j < min(k+64, keys); j++ {
					if _, err := b.Txn(func(tx *WriteTxn) error {
						_, err := tx.Put([]byte(fmt.Sprintf("key-%04d", j)), value, 0)
						return err
					}); err != nil {
						return err
					}
					n++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for k := 0; k < keys; k += 3 {
		del(t, s, fmt.Sprintf("key-%04d", k), "")
	}
}

func TestCompactionInterruptedResumesOnOpen(t *testing.T) {
	stopped := make(chan struct{})
	opts := Options{CompactBatchLimit: 10, hooks: crashHook(2, stopped)}
	s := openTest(t, opts)
	fillHistory(t, s, 20, 10, []byte("v"))
	put(t, s, "late", "x")
	rev := s.Rev()
	at := rev - 5
	want := map[int64]string{}
	for r := at; r <= rev; r++ {
		want[r] = all(t, s, r)
	}
	total := len(records(t, s))
	compact(t, s, at)
	<-stopped
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The file shows a compaction in progress: scheduled, not finished,
	// part of the garbage gone.
	m, n := inspectFile(t, s.Path())
	if m.scheduled != at || m.finished != noCompaction {
		t.Fatalf("after crash meta %+v, want scheduled %d unfinished", m, at)
	}
	if n != total-20 {
		t.Fatalf("after crash %d records, want %d (two batches of 10 deleted)", n, total-20)
	}

	s2, err := Open(s.Path(), Options{CompactBatchLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.CompactRev() != at {
		t.Fatalf("compact rev after reopen %d", s2.CompactRev())
	}
	waitCompact(t, s2, at)
	for r, w := range want {
		if got := all(t, s2, r); got != w {
			t.Errorf("at %d after resumed compaction: %q, want %q", r, got, w)
		}
	}
	if m := readMetaOf(t, s2); m.finished != at {
		t.Errorf("finished %d, want %d", m.finished, at)
	}
	// Every record left is either after the compaction or kept for it.
	for _, r := range records(t, s2) {
		var main, sub int64
		fmt.Sscanf(strings.TrimSuffix(r, "t"), "%d.%d", &main, &sub)
		if main < at && strings.HasSuffix(r, "t") {
			t.Errorf("tombstone %s survived compaction at %d", r, at)
		}
	}
	// 13 never-deleted keys + 4 deleted after the compaction point keep
	// their newest put, the tombstone at it stays, and so do the 5
	// revisions after it.
	if got, want := len(records(t, s2)), 13+4+1+5; got != want {
		t.Errorf("%d records left, want %d", got, want)
	}
}

// inspectFile reads meta and counts records of a closed store file.
func inspectFile(t testing.TB, path string) (meta, int) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var m meta
	var n int
	err = db.View(func(tx *bbolt.Tx) error {
		var err error
		if m, err = readMeta(tx); err != nil {
			return err
		}
		n = tx.Bucket(keyBucket).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, n
}

func TestCompactionFreesSpace(t *testing.T) {
	s := openTest(t, Options{CompactBatchLimit: 200})
	fillHistory(t, s, 64, 60, make([]byte, 1024))
	before, err := s.SizeInUse()
	if err != nil {
		t.Fatal(err)
	}
	rev := s.Rev()
	compact(t, s, rev)
	waitCompact(t, s, rev)
	put(t, s, "after", "x") // lets bbolt release the last batch's pending pages
	after, err := s.SizeInUse()
	if err != nil {
		t.Fatal(err)
	}
	size, _ := s.Size()
	t.Logf("in use %d -> %d bytes (file %d)", before, after, size)
	if after*10 > before {
		t.Fatalf("in use %d -> %d: compaction freed less than 90%%", before, after)
	}
	// The live keys, the last delete (at the compaction point) and "after".
	if n := len(records(t, s)); n != 64-22+1+1 {
		t.Fatalf("%d records left", n)
	}
}

func TestWaitCompaction(t *testing.T) {
	s := openTest(t, Options{})
	put(t, s, "k", "v")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.WaitCompaction(ctx, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait for unscheduled compaction: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.WaitCompaction(context.Background(), 100) }()
	time.Sleep(10 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("wait across Close: %v", err)
	}
}

func TestReadTxnAcrossCompaction(t *testing.T) {
	s := openTest(t, Options{})
	for i := 0; i < 5; i++ {
		put(t, s, "k", fmt.Sprint(i)) // 2..6
	}
	err := s.Read(func(r *ReadTxn) error {
		compact(t, s, 4)
		waitCompact(t, s, 4)
		if _, err := r.Range([]byte("k"), nil, RangeOptions{Rev: 3}); !errors.Is(err, ErrCompacted) {
			t.Errorf("pinned read below new compaction: %v", err)
		}
		res, err := r.Range([]byte("k"), nil, RangeOptions{})
		if err != nil || res.Rev != 6 || string(res.KVs[0].Value) != "4" {
			t.Errorf("pinned read: %+v %v", res, err)
		}
		if err := r.Changes(4, 0, func(Event) bool { return true }); !errors.Is(err, ErrCompacted) {
			t.Errorf("changes from compacted rev: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
