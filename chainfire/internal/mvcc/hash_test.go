package mvcc

import (
	"errors"
	"testing"
)

func TestHashKVDeterministic(t *testing.T) {
	a := openTest(t, Options{})
	b := openTest(t, Options{})
	c := openTest(t, Options{})
	for _, s := range []*Store{a, b, c} {
		workload(t, s, 1)
	}
	put(t, a, "x", "same")
	put(t, b, "x", "same")
	put(t, c, "x", "different")
	for rev := a.CompactRev(); rev <= a.Rev(); rev++ {
		ha, err1 := a.HashKV(rev)
		hb, err2 := b.HashKV(rev)
		hc, err3 := c.HashKV(rev)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("HashKV(%d): %v %v %v", rev, err1, err2, err3)
		}
		if ha != hb {
			t.Errorf("at %d identical stores hash %+v vs %+v", rev, ha, hb)
		}
		last := rev == a.Rev()
		if (ha == hc) == last {
			t.Errorf("at %d: hash equal=%v with the store that differs only at the last revision", rev, ha == hc)
		}
	}
	if _, err := a.HashKV(a.Rev() + 1); !errors.Is(err, ErrFutureRev) {
		t.Errorf("future hash: %v", err)
	}
	if _, err := a.HashKV(a.CompactRev() - 1); !errors.Is(err, ErrCompacted) {
		t.Errorf("compacted hash: %v", err)
	}
}

func TestHashKVIgnoresPhysicalCompactionProgress(t *testing.T) {
	stopped := make(chan struct{})
	done := openTest(t, Options{CompactBatchLimit: 2})
	halfway := openTest(t, Options{CompactBatchLimit: 2, hooks: crashHook(1, stopped)})
	for _, s := range []*Store{done, halfway} {
		fillHistory(t, s, 10, 3, []byte("v"))
		compact(t, s, s.Rev()-2)
	}
	waitCompact(t, done, done.CompactRev())
	<-stopped
	if len(records(t, done)) == len(records(t, halfway)) {
		t.Fatal("test setup: both stores compacted equally far")
	}
	h1, _ := done.HashKV(0)
	h2, _ := halfway.HashKV(0)
	if h1 != h2 {
		t.Fatalf("hash depends on physical progress: %+v vs %+v", h1, h2)
	}
	// Replicas that compacted at different revisions do not hash alike.
	other := openTest(t, Options{})
	fillHistory(t, other, 10, 3, []byte("v"))
	compact(t, other, other.Rev()-3)
	if h3, _ := other.HashKV(0); h3.Hash == h1.Hash {
		t.Fatal("different compaction points hash alike")
	}
}
