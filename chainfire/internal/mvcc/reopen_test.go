package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// workload writes a mixed history: multi-txn batches, leases, deletes,
// recreations, a compaction in the middle.
func workload(t testing.TB, s *Store, term uint64) {
	t.Helper()
	for round := 0; round < 6; round++ {
		err := s.Update(s.AppliedIndex()+1, term, func(b *Batch) error {
			for i := 0; i < 4; i++ {
				if _, err := b.Txn(func(tx *WriteTxn) error {
					k := []byte(fmt.Sprintf("k%d", (round*3+i)%7))
					if _, err := tx.Put(k, []byte(fmt.Sprint(round, i)), int64(i)); err != nil {
						return err
					}
					if i == 3 {
						_, _, err := tx.DeleteRange([]byte(fmt.Sprintf("k%d", round%7)), nil)
						return err
					}
					return nil
				}); err != nil {
					return err
				}
			}
			if round == 3 {
				return b.Compact(b.Rev() - 6)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

type storeState struct {
	rev, compact  int64
	applied, term uint64
	index         string
	ranges        map[int64]string
}

func captureState(t testing.TB, s *Store) storeState {
	t.Helper()
	st := storeState{
		rev: s.Rev(), compact: s.CompactRev(),
		applied: s.AppliedIndex(), term: s.AppliedTerm(),
		index: dumpIndex(s), ranges: map[int64]string{},
	}
	for r := st.compact; r <= st.rev; r++ {
		st.ranges[r] = all(t, s, r)
	}
	return st
}

func compareState(t testing.TB, got, want storeState) {
	t.Helper()
	if got.rev != want.rev || got.compact != want.compact || got.applied != want.applied || got.term != want.term {
		t.Errorf("rev/compact/applied/term %d/%d/%d/%d, want %d/%d/%d/%d", got.rev, got.compact,
			got.applied, got.term, want.rev, want.compact, want.applied, want.term)
	}
	if got.index != want.index {
		t.Errorf("index:\n%s\nwant:\n%s", got.index, want.index)
	}
	for r, w := range want.ranges {
		if got.ranges[r] != w {
			t.Errorf("range at %d: %q, want %q", r, got.ranges[r], w)
		}
	}
}

func TestReopenRebuildsIdenticalState(t *testing.T) {
	s := openTest(t, Options{})
	workload(t, s, 5)
	waitCompact(t, s, s.CompactRev())
	want := captureState(t, s)
	if want.applied != 6 || want.term != 5 || want.compact < 2 {
		t.Fatalf("unexpected workload state %+v", want)
	}
	s = reopen(t, s, Options{})
	compareState(t, captureState(t, s), want)
	// And it keeps going from the same revision.
	if res := put(t, s, "new", "v"); res.Rev != want.rev+1 {
		t.Fatalf("revision after reopen %d, want %d", res.Rev, want.rev+1)
	}
	if err := s.Update(6, 5, func(*Batch) error { return nil }); !errors.Is(err, ErrStaleIndex) {
		t.Fatalf("index already applied before reopen: %v", err)
	}
}

func TestSnapshotRestore(t *testing.T) {
	src := openTest(t, Options{})
	workload(t, src, 2)
	want := captureState(t, src)
	wantHash, err := src.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	put(t, src, "after-snapshot", "x") // must not be in the snapshot
	var buf bytes.Buffer
	n, err := sn.WriteTo(&buf)
	if err != nil || n != sn.Size() || sn.AppliedIndex() != want.applied || sn.AppliedTerm() != 2 {
		t.Fatalf("snapshot: n %d size %d applied %d err %v", n, sn.Size(), sn.AppliedIndex(), err)
	}
	if err := sn.Close(); err != nil {
		t.Fatal(err)
	}

	dst := openTest(t, Options{})
	put(t, dst, "stale", "gone after restore")
	if err := dst.Restore(bytes.NewReader([]byte("not a database"))); err == nil {
		t.Fatal("restore of garbage succeeded")
	}
	if got := all(t, dst, 0); got != "stale=gone after restore(c2 m2 v1 l0) " {
		t.Fatalf("failed restore changed the store: %q", got)
	}
	if err := dst.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	compareState(t, captureState(t, dst), want)
	if h, err := dst.HashKV(want.rev); err != nil || h != wantHash {
		t.Fatalf("hash after restore %+v %v, want %+v", h, err, wantHash)
	}
	put(t, dst, "more", "v")
	dst = reopen(t, dst, Options{})
	if dst.Rev() != want.rev+1 {
		t.Fatalf("rev after restore+write+reopen %d", dst.Rev())
	}
}
