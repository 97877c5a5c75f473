package mvcc

import (
	"errors"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

// assertUnchanged checks a store still looks exactly like before.
func assertUnchanged(t *testing.T, s *Store, before storeState, beforeHash KVHash) {
	t.Helper()
	compareState(t, captureState(t, s), before)
	h, err := s.HashKV(0)
	if err != nil || h != beforeHash {
		t.Errorf("hash %+v %v, want %+v", h, err, beforeHash)
	}
	if m := readMetaOf(t, s); m.applied != before.applied || m.rev != before.rev {
		t.Errorf("persisted meta %+v", m)
	}
}

func TestUpdateErrorLeavesStoreUnchanged(t *testing.T) {
	s := openTest(t, Options{})
	workload(t, s, 1)
	before := captureState(t, s)
	beforeHash, _ := s.HashKV(0)
	boom := errors.New("boom")
	err := update(s, func(b *Batch) error {
		for _, k := range []string{"k1", "k2", "brand-new"} {
			if _, err := b.Txn(func(tx *WriteTxn) error {
				_, err := tx.Put([]byte(k), []byte("x"), 0)
				return err
			}); err != nil {
				return err
			}
		}
		if err := b.Compact(b.Rev()); err != nil {
			return err
		}
		if _, err := b.Tx().CreateBucket([]byte("sibling")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	assertUnchanged(t, s, before, beforeHash)
	_ = s.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte("sibling")) != nil {
			t.Error("sibling bucket survived the failed batch")
		}
		return nil
	})
	// The same index can be applied again after the failure.
	put(t, s, "ok", "v")
	if s.AppliedIndex() != before.applied+1 || s.Rev() != before.rev+1 {
		t.Fatalf("after retry applied %d rev %d", s.AppliedIndex(), s.Rev())
	}
}

func TestCommitFailureLeavesStoreUnchanged(t *testing.T) {
	failing := true
	hooks := &testHooks{beforeCommit: func(*bbolt.Tx) error {
		if failing {
			return errors.New("disk on fire")
		}
		return nil
	}}
	s := openTest(t, Options{hooks: hooks})
	failing = false
	workload(t, s, 1)
	before := captureState(t, s)
	beforeHash, _ := s.HashKV(0)
	failing = true
	var called bool
	err := update(s, func(b *Batch) error {
		b.OnCommit(func(int64, []Event) { called = true })
		_, err := b.Txn(func(tx *WriteTxn) error {
			_, _, err := tx.DeleteRange([]byte("\x00"), []byte("\x00"))
			return err
		})
		if err != nil {
			return err
		}
		return b.Compact(b.Rev())
	})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || called {
		t.Fatalf("update: %v (callback %v)", err, called)
	}
	assertUnchanged(t, s, before, beforeHash)
}

func TestRealCommitFailureMaxSize(t *testing.T) {
	// bbolt refuses to grow past MaxSize during Commit, as with a full disk.
	s := openTest(t, Options{InitialMmapSize: -1, hooks: &testHooks{maxSize: 1 << 20}})
	put(t, s, "small", "v")
	before := captureState(t, s)
	beforeHash, _ := s.HashKV(0)
	big := make([]byte, 4<<20)
	err := update(s, func(b *Batch) error {
		_, err := b.Txn(func(tx *WriteTxn) error {
			_, err := tx.Put([]byte("big"), big, 0)
			return err
		})
		return err
	})
	if err == nil {
		t.Fatal("oversized commit succeeded")
	}
	t.Logf("commit error: %v", err)
	assertUnchanged(t, s, before, beforeHash)
	put(t, s, "small2", "v")
	if s.Rev() != before.rev+1 {
		t.Fatalf("store unusable after failed commit: rev %d", s.Rev())
	}
}

func TestPanicInUpdateRollsBack(t *testing.T) {
	s := openTest(t, Options{})
	put(t, s, "a", "1")
	before := captureState(t, s)
	beforeHash, _ := s.HashKV(0)
	func() {
		defer func() { _ = recover() }()
		_ = update(s, func(b *Batch) error {
			_, _ = b.Txn(func(tx *WriteTxn) error {
				_, err := tx.Put([]byte("a"), []byte("2"), 0)
				return err
			})
			panic("fsm bug")
		})
	}()
	assertUnchanged(t, s, before, beforeHash)
	put(t, s, "b", "1") // writeMu was released, the store still works
}
