package mvcc

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

// FuzzRange throws arbitrary (key, end, limit, rev) at a store with a known
// history and checks the answer against the model; it must never panic.
func FuzzRange(f *testing.F) {
	s := openTest(f, Options{})
	m := newModel()
	rnd := rand.New(rand.NewPCG(42, 42))
	for i := 0; i < 60; i++ {
		m = randomBatch(f, s, m, rnd)
	}
	f.Add([]byte("a"), []byte(""), int64(0), int64(0), false, false)
	f.Add([]byte("\x00"), []byte("\x00"), int64(2), int64(5), false, true)
	f.Add([]byte(""), []byte("\x00"), int64(-1), int64(-3), true, false)
	f.Add([]byte("b"), []byte("a"), int64(1), m.rev+1, false, false)
	f.Add([]byte("a"), []byte("b"), int64(1<<62), int64(1)<<62, false, false)
	f.Fuzz(func(t *testing.T, key, end []byte, limit, rev int64, countOnly, keysOnly bool) {
		opts := RangeOptions{Rev: rev, Limit: limit, CountOnly: countOnly, KeysOnly: keysOnly}
		got, err := s.Range(key, end, opts)
		switch {
		case rev > m.rev:
			if !errors.Is(err, ErrFutureRev) {
				t.Fatalf("rev %d > %d: %v", rev, m.rev, err)
			}
			return
		case rev > 0 && rev < m.compact:
			if !errors.Is(err, ErrCompacted) {
				t.Fatalf("rev %d < %d: %v", rev, m.compact, err)
			}
			return
		case err != nil:
			t.Fatal(err)
		}
		if rev <= 0 {
			rev = m.rev
		}
		want := m.rangeAt(string(key), string(end), rev)
		if got.Count != int64(len(want)) {
			t.Fatalf("count %d, want %d", got.Count, len(want))
		}
		if countOnly {
			if got.KVs != nil || got.More {
				t.Fatalf("count only returned %+v", got)
			}
			return
		}
		if limit > 0 && int64(len(want)) > limit {
			want = want[:limit]
		}
		if keysOnly {
			for i := range want {
				want[i].Value = nil
			}
		}
		if fmtKVs(got.KVs) != fmtKVs(want) || got.More != (got.Count > int64(len(want))) {
			t.Fatalf("got %s more %v, want %s", fmtKVs(got.KVs), got.More, fmtKVs(want))
		}
	})
}

// FuzzKVEncoding: decoding arbitrary bytes must not panic, and encoding
// round-trips exactly.
func FuzzKVEncoding(f *testing.F) {
	f.Add([]byte("k"), []byte("v"), int64(2), int64(3), int64(1), int64(0), []byte{1, 1, 'k', 0, 4, 4, 2, 0})
	f.Add([]byte{}, []byte{}, int64(-1), int64(1)<<62, int64(-1)<<62, int64(7), []byte{})
	f.Fuzz(func(t *testing.T, key, val []byte, c, m, v, l int64, raw []byte) {
		if kv, err := decodeKV(raw, true); err == nil {
			if _, err := decodeKV(encodeKV(&kv), true); err != nil {
				t.Fatalf("re-encode of decoded record fails: %v", err)
			}
		}
		in := KeyValue{Key: key, Value: val, CreateRevision: c, ModRevision: m, Version: v, Lease: l}
		if len(key) == 0 {
			in.Key = nil
		}
		if len(val) == 0 {
			in.Value = nil
		}
		enc := encodeKV(&in)
		out, err := decodeKV(enc, true)
		if err != nil || !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip %+v -> %+v (%v)", in, out, err)
		}
		noVal, err := decodeKV(enc, false)
		if err != nil || noVal.Value != nil || !bytes.Equal(noVal.Key, in.Key) || noVal.Lease != l {
			t.Fatalf("keys-only decode %+v (%v)", noVal, err)
		}
		for cut := 0; cut < len(enc); cut++ {
			if _, err := decodeKV(enc[:cut], true); err == nil {
				t.Fatalf("truncated record (%d of %d bytes) decoded", cut, len(enc))
			}
		}
	})
}
