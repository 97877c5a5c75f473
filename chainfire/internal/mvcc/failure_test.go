package mvcc

import (
	"errors"
	"strings"
	"testing"
	"time"

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

// In batched mode the failing batch is made the first of its write
// transaction (mustSync): a failure after earlier uncommitted batches fails
// the store instead (TestFailureAfterPendingBatchesFailsStore).

func TestUpdateErrorLeavesStoreUnchanged(t *testing.T) {
	for _, mode := range commitModes {
		t.Run(mode.name, func(t *testing.T) { testUpdateErrorLeavesStoreUnchanged(t, mode.opts) })
	}
}

func testUpdateErrorLeavesStoreUnchanged(t *testing.T, opts Options) {
	s := openTest(t, opts)
	workload(t, s, 1)
	mustSync(t, s)
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
	for _, mode := range commitModes {
		t.Run(mode.name, func(t *testing.T) { testCommitFailureLeavesStoreUnchanged(t, mode.opts) })
	}
}

// testCommitFailureLeavesStoreUnchanged: the batch compacts, so it commits
// inside Update in both modes.
func testCommitFailureLeavesStoreUnchanged(t *testing.T, opts Options) {
	failing := true
	hooks := &testHooks{beforeCommit: func(*bbolt.Tx) error {
		if failing {
			return errors.New("disk on fire")
		}
		return nil
	}}
	opts.hooks = hooks
	s := openTest(t, opts)
	failing = false
	workload(t, s, 1)
	mustSync(t, s)
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
	s := openTest(t, Options{BatchInterval: -1, InitialMmapSize: -1, hooks: &testHooks{maxSize: 1 << 20}})
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
	for _, mode := range commitModes {
		t.Run(mode.name, func(t *testing.T) { testPanicInUpdateRollsBack(t, mode.opts) })
	}
}

func testPanicInUpdateRollsBack(t *testing.T, opts Options) {
	s := openTest(t, opts)
	put(t, s, "a", "1")
	mustSync(t, s)
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

// TestBatchedCommitFailureFailsStore: a commit that fails after its batches
// were published (here a full disk at the batch timer) loses them from the
// file; the store refuses writes from then on, and reopening it recovers
// the durable state, which Raft would replay forward.
func TestBatchedCommitFailureFailsStore(t *testing.T) {
	s := openTest(t, Options{BatchInterval: time.Hour, InitialMmapSize: -1, hooks: &testHooks{maxSize: 1 << 20}})
	put(t, s, "small", "v")
	mustSync(t, s)
	durable := captureState(t, s)
	big := make([]byte, 4<<20)
	txn(t, s, func(tx *WriteTxn) error {
		_, err := tx.Put([]byte("big"), big, 0)
		return err
	})
	if got := mustRange(t, s, "big", "", RangeOptions{}); len(got.KVs) != 1 || len(got.KVs[0].Value) != len(big) {
		t.Fatalf("pending put not readable: %+v", got.KVs)
	}
	if err := s.Sync(); err == nil || !errors.Is(err, ErrFailed) {
		t.Fatalf("sync of an oversized batch: %v", err)
	}
	if err := update(s, func(*Batch) error { return nil }); !errors.Is(err, ErrFailed) {
		t.Fatalf("update on a failed store: %v", err)
	}
	if s.DurableIndex() != durable.applied {
		t.Fatalf("durable index %d, want %d", s.DurableIndex(), durable.applied)
	}
	s = reopen(t, s, Options{BatchInterval: time.Hour, InitialMmapSize: -1, hooks: &testHooks{maxSize: 1 << 20}})
	compareState(t, captureState(t, s), durable)
	put(t, s, "again", "v")
	mustSync(t, s)
}

// TestFailureAfterPendingBatchesFailsStore: a batch that fails while the
// write transaction holds earlier, published batches cannot be undone
// alone; the store fails and reopens at its last commit.
func TestFailureAfterPendingBatchesFailsStore(t *testing.T) {
	s := openTest(t, Options{BatchInterval: time.Hour})
	put(t, s, "a", "1")
	mustSync(t, s)
	durable := captureState(t, s)
	put(t, s, "b", "1")
	boom := errors.New("boom")
	if err := update(s, func(*Batch) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	if err := update(s, func(*Batch) error { return nil }); !errors.Is(err, ErrFailed) {
		t.Fatalf("update on a failed store: %v", err)
	}
	// What was published stays readable until the store is reopened.
	if got := keysOf(mustRange(t, s, "a", "c", RangeOptions{}).KVs); got != "a,b" {
		t.Fatalf("keys %q", got)
	}
	s = reopen(t, s, Options{BatchInterval: time.Hour})
	compareState(t, captureState(t, s), durable)
}
