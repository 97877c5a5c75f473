package engine

import (
	"bytes"
	"testing"
)

func TestDataKeysKeepUserOrder(t *testing.T) {
	keys := [][]byte{{}, {0x00}, {0x00, 0x00}, {0x01}, []byte("a"), []byte("ab"), []byte("b"), {0xff}, {0xff, 0xff}}
	for i := 1; i < len(keys); i++ {
		if bytes.Compare(DataKey(keys[i-1]), DataKey(keys[i])) >= 0 {
			t.Fatalf("DataKey(%x) >= DataKey(%x)", keys[i-1], keys[i])
		}
	}
}

func TestDataSpanCoversRange(t *testing.T) {
	lo, hi := DataSpan([]byte("b"), nil)
	for _, k := range [][]byte{[]byte("b"), []byte("zzz"), {0xff, 0xff, 0xff}} {
		dk := DataKey(k)
		if bytes.Compare(dk, lo) < 0 || bytes.Compare(dk, hi) >= 0 {
			t.Fatalf("key %x outside unbounded span [%x, %x)", k, lo, hi)
		}
	}
	lo, hi = DataSpan([]byte("b"), []byte("d"))
	if dk := DataKey([]byte("d")); bytes.Compare(dk, hi) < 0 {
		t.Fatalf("end key %x inside span ending %x", dk, hi)
	}
	if dk := DataKey([]byte("a")); bytes.Compare(dk, lo) >= 0 {
		t.Fatalf("key before start %x inside span starting %x", dk, lo)
	}
}

func TestMetaKeysSortBeforeDataAndDecode(t *testing.T) {
	for _, id := range []uint64{0, 1, 1 << 40, ^uint64(0)} {
		sk, ak := RegionStateKey(id), ApplyStateKey(id)
		if bytes.Compare(sk, DataKey(nil)) >= 0 || bytes.Compare(ak, DataKey(nil)) >= 0 {
			t.Fatalf("meta key of region %d sorts after data", id)
		}
		got, ok := DecodeRegionStateKey(sk)
		if !ok || got != id {
			t.Fatalf("DecodeRegionStateKey(%x) = %d, %v; want %d", sk, got, ok, id)
		}
		if _, ok := DecodeRegionStateKey(ak); ok {
			t.Fatalf("apply state key %x decoded as region state key", ak)
		}
	}
	if RegionStateKey(1)[9] >= RegionStateKey(2)[9] || bytes.Compare(RegionStateKey(255), RegionStateKey(256)) >= 0 {
		t.Fatal("region meta keys not ordered by id")
	}
}

func FuzzDataKey(f *testing.F) {
	f.Add([]byte(""), []byte("a"))
	f.Add([]byte{0xff}, []byte{0x00})
	f.Add([]byte("z"), []byte("{"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		da, db := DataKey(a), DataKey(b)
		if got := bytes.Compare(da, db); got != bytes.Compare(a, b) {
			t.Fatalf("order of %x, %x not preserved: %d", a, b, got)
		}
		ua, ok := DecodeDataKey(da)
		if !ok || !bytes.Equal(ua, a) {
			t.Fatalf("DecodeDataKey(DataKey(%x)) = %x, %v", a, ua, ok)
		}
		if u, ok := DecodeDataKey(a); ok && !bytes.Equal(DataKey(u), a) {
			t.Fatalf("DataKey(DecodeDataKey(%x)) = %x", a, DataKey(u))
		}
		if _, ok := DecodeRegionStateKey(da); ok {
			t.Fatalf("data key %x decoded as meta key", da)
		}
		lo, hi := DataSpan(a, nil)
		if bytes.Compare(db, lo) >= 0 != (bytes.Compare(b, a) >= 0) || bytes.Compare(db, hi) >= 0 {
			t.Fatalf("DataSpan(%x, nil) misplaces %x", a, b)
		}
		if id, ok := DecodeRegionStateKey(a); ok && !bytes.Equal(RegionStateKey(id), a) {
			t.Fatalf("DecodeRegionStateKey(%x) = %d does not round trip", a, id)
		}
	})
}
