package mvcc

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestDefragShrinksAndKeepsData fills the store, deletes and compacts most
// of it, and checks a defragmentation shrinks the file while every live
// key, the revision and the KV hash stay the same.
func TestDefragShrinksAndKeepsData(t *testing.T) {
	s := openTest(t, Options{})
	val := strings.Repeat("v", 4096)
	for i := range 1000 {
		put(t, s, fmt.Sprintf("k%04d", i), val)
	}
	del(t, s, "k0000", "k0990")
	compact(t, s, s.Rev())
	waitCompact(t, s, s.Rev())
	put(t, s, "bump", "1") // frees the pages the compaction released
	before, _ := fileSize(s.path)
	hashBefore, err := s.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	rev, live := s.Rev(), all(t, s, 0)
	if err := s.Defrag(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, _ := fileSize(s.path)
	if after*2 > before {
		t.Fatalf("defrag: file %d bytes -> %d bytes, want it at least halved", before, after)
	}
	if s.Rev() != rev || all(t, s, 0) != live {
		t.Fatalf("after defrag: revision %d (want %d), data changed", s.Rev(), rev)
	}
	if hashAfter, err := s.HashKV(0); err != nil || hashAfter != hashBefore {
		t.Fatalf("hash after defrag %+v (%v), before %+v", hashAfter, err, hashBefore)
	}
	put(t, s, "after", val)
}

func TestSnapshotRevision(t *testing.T) {
	s := openTest(t, Options{})
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if sn.Revision() != 1 {
		t.Fatalf("empty store snapshot revision %d, want 1", sn.Revision())
	}
	_ = sn.Close()
	put(t, s, "a", "1")
	put(t, s, "b", "2")
	sn, err = s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	put(t, s, "c", "3")
	if sn.Revision() != s.Rev()-1 {
		t.Fatalf("snapshot revision %d, store moved on to %d", sn.Revision(), s.Rev())
	}
}
