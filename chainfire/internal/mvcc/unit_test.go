package mvcc

import (
	"bytes"
	"errors"
	"reflect"
	"sort"
	"testing"
)

func TestRevKeyOrderAndRoundTrip(t *testing.T) {
	revs := []Revision{{0, 0}, {1, 0}, {1, 1}, {1, 255}, {1, 256}, {2, 0}, {255, 0}, {256, 0}, {1 << 40, 3}}
	var keys [][]byte
	for i, r := range revs {
		tomb := i%2 == 0
		k := revKey(r, tomb)
		got, gotTomb, err := parseRevKey(k)
		if err != nil || got != r || gotTomb != tomb {
			t.Fatalf("round trip %v/%v: %v/%v %v", r, tomb, got, gotTomb, err)
		}
		keys = append(keys, k)
	}
	if !sort.SliceIsSorted(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 }) {
		t.Fatal("bbolt key order differs from revision order")
	}
	for _, bad := range [][]byte{nil, make([]byte, 16), append(revKey(Revision{1, 1}, false), 'x'), make([]byte, 17)} {
		if _, _, err := parseRevKey(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("parseRevKey(%x) = %v", bad, err)
		}
	}
}

func TestDecodeKVRejectsCorruption(t *testing.T) {
	enc := encodeKV(&KeyValue{Key: []byte("key"), Value: []byte("value"), CreateRevision: 5, ModRevision: 9, Version: 3, Lease: 12})
	for name, b := range map[string][]byte{
		"format":   append([]byte{9}, enc[1:]...),
		"trailing": append(bytes.Clone(enc), 0),
		"length":   {1, 0xff, 0xff, 0xff, 0xff, 0x0f, 'k'},
	} {
		if _, err := decodeKV(b, true); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestKeyIndexGetAndCompact(t *testing.T) {
	ki := newKeyIndex([]byte("k"))
	ki.put(Revision{2, 0}, 2, 1)
	ki.put(Revision{4, 1}, 2, 2)
	ki.tombstone(Revision{6, 0})
	ki.put(Revision{8, 0}, 8, 1)
	ki.put(Revision{10, 0}, 8, 2)
	for at, want := range map[int64]Revision{2: {2, 0}, 3: {2, 0}, 4: {4, 1}, 5: {4, 1}, 8: {8, 0}, 9: {8, 0}, 12: {10, 0}} {
		if got, ok := ki.get(at); !ok || got != want {
			t.Errorf("get(%d) = %v %v, want %v", at, got, ok, want)
		}
	}
	for _, at := range []int64{0, 1, 6, 7} {
		if got, ok := ki.get(at); ok {
			t.Errorf("get(%d) = %v, want absent", at, got)
		}
	}
	if ki.tombstone(Revision{11, 0}); ki.tombstone(Revision{12, 0}) {
		t.Error("tombstone of a deleted key reported success")
	}
	keep := map[Revision]struct{}{}
	if ki.compact(9, keep) {
		t.Fatal("compact(9) emptied the key")
	}
	if !reflect.DeepEqual(keep, map[Revision]struct{}{{8, 0}: {}}) || len(ki.gens) != 2 || ki.gens[0].created != 8 {
		t.Fatalf("after compact(9): keep %v gens %+v", keep, ki.gens)
	}
	if got, ok := ki.get(9); !ok || got != (Revision{8, 0}) {
		t.Fatalf("get(9) after compaction = %v %v", got, ok)
	}
	keep = map[Revision]struct{}{}
	if !ki.compact(11, keep) || len(keep) != 0 {
		t.Fatalf("compact at the tombstone: keep %v gens %+v", keep, ki.gens)
	}
}

func TestKeyRangeRules(t *testing.T) {
	cases := []struct {
		key, end, lo, hi string
		ok, unbounded    bool
	}{
		{"a", "", "a", "a\x00", true, false},
		{"a", "\x00", "a", "", true, true},
		{"\x00", "\x00", "\x00", "", true, true},
		{"a", "c", "a", "c", true, false},
		{"c", "a", "", "", false, false},
		{"a", "a", "", "", false, false},
	}
	for _, c := range cases {
		lo, hi, ok := keyRange([]byte(c.key), []byte(c.end))
		if ok != c.ok || (ok && (string(lo) != c.lo || string(hi) != c.hi || (hi == nil) != c.unbounded)) {
			t.Errorf("keyRange(%q,%q) = %q %q %v", c.key, c.end, lo, hi, ok)
		}
	}
}
