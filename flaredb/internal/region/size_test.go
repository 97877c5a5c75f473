package region

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

func TestSplitCheck(t *testing.T) {
	f := newFixture(t)
	st, err := f.r.SplitCheck(context.Background())
	if err != nil || st.Keys != 0 || st.SplitKey != nil {
		t.Fatalf("empty region split check = %+v, %v", st, err)
	}
	f.putMany(f.r, 1000) // keys and values of 8 bytes each
	st, err = f.r.SplitCheck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != 1000 || st.Bytes != 16000 || string(st.SplitKey) != keyN(500) {
		t.Fatalf("split check = keys %d bytes %d split %q", st.Keys, st.Bytes, st.SplitKey)
	}
	// The split key splits the region into halves of about equal size.
	f.mustApply(f.r, splitCmd(header(f.r), string(st.SplitKey), 2, 21, 22, 23))
	after, err := f.r.SplitCheck(context.Background())
	if err != nil || after.Keys != 500 {
		t.Fatalf("after split = %+v, %v", after, err)
	}
}

func TestSplitKeyByBytesNotCount(t *testing.T) {
	f := newFixture(t)
	// One huge value early: half the bytes lie before the second key.
	f.mustApply(f.r, putCmd(header(f.r), "a", string(bytes.Repeat([]byte("x"), 100000))))
	var kvs []string
	for i := range 100 {
		kvs = append(kvs, fmt.Sprintf("b%03d", i), "v")
	}
	f.mustApply(f.r, putCmd(header(f.r), kvs...))
	st, err := f.r.SplitCheck(context.Background())
	if err != nil || string(st.SplitKey) != "b000" {
		t.Fatalf("split key = %q, %v", st.SplitKey, err)
	}
	// Two keys with the weight at the end: still strictly inside.
	g := newFixture(t)
	g.mustApply(g.r, putCmd(header(g.r), "a", "v", "b", string(bytes.Repeat([]byte("x"), 100000))))
	st, err = g.r.SplitCheck(context.Background())
	if err != nil || string(st.SplitKey) != "b" {
		t.Fatalf("split key = %q, %v", st.SplitKey, err)
	}
}

func TestApproximateSize(t *testing.T) {
	f := newFixture(t)
	var kvs []string
	for i := range 2000 {
		kvs = append(kvs, keyN(i), string(bytes.Repeat([]byte("v"), 200)))
	}
	f.mustApply(f.r, putCmd(header(f.r), kvs...))
	if err := f.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	all, err := f.r.ApproximateSize()
	if err != nil || all < 10_000 {
		t.Fatalf("approximate size = %d, %v", all, err)
	}
	f.mustApply(f.r, splitCmd(header(f.r), keyN(1900), 2, 21, 22, 23))
	part, err := f.r.ApproximateSize()
	if err != nil || part >= all {
		t.Fatalf("size after split = %d (before %d), %v", part, all, err)
	}
}
