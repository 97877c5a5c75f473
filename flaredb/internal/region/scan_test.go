package region

import (
	"context"
	"fmt"
	"testing"
)

func keyN(i int) string { return fmt.Sprintf("key%05d", i) }

func TestScanForwardReverseLimits(t *testing.T) {
	f := newFixture(t)
	const n = 3000
	for i := 0; i < n; i += 500 {
		var kvs []string
		for j := i; j < i+500; j++ {
			kvs = append(kvs, keyN(j), fmt.Sprintf("val%05d", j))
		}
		f.mustApply(f.r, putCmd(header(f.r), kvs...))
	}
	ctx := context.Background()
	cases := []struct {
		name       string
		opts       ScanOptions
		first, num int
		step       int
	}{
		{"all", ScanOptions{}, 0, n, 1},
		{"limit", ScanOptions{Limit: 10}, 0, 10, 1},
		{"range", ScanOptions{Start: []byte(keyN(100)), End: []byte(keyN(200))}, 100, 100, 1},
		{"reverse all", ScanOptions{Reverse: true}, n - 1, n, -1},
		{"reverse range limit", ScanOptions{Start: []byte(keyN(100)), End: []byte(keyN(200)), Reverse: true, Limit: 7}, 199, 7, -1},
		{"keys only", ScanOptions{KeysOnly: true, Start: []byte(keyN(2990))}, 2990, 10, 1},
		{"empty range", ScanOptions{Start: []byte("a"), End: []byte("a")}, 0, 0, 1},
	}
	for _, tc := range cases {
		kvs, err := f.r.Scan(ctx, reqCtx(f.r), tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(kvs) != tc.num {
			t.Fatalf("%s: %d pairs, want %d", tc.name, len(kvs), tc.num)
		}
		for i, kv := range kvs {
			want := tc.first + i*tc.step
			if string(kv.Key) != keyN(want) {
				t.Fatalf("%s: pair %d key %q, want %q", tc.name, i, kv.Key, keyN(want))
			}
			if tc.opts.KeysOnly != (kv.Value == nil) {
				t.Fatalf("%s: pair %d value %q", tc.name, i, kv.Value)
			}
		}
	}
	big, err := f.r.Scan(ctx, reqCtx(f.r), ScanOptions{Limit: MaxScanLimit * 2})
	if err != nil || len(big) != n {
		t.Fatalf("over-limit scan = %d, %v", len(big), err)
	}
}

func TestScanClipsToRegion(t *testing.T) {
	f := newFixture(t)
	f.putMany(f.r, 100)
	f.mustApply(f.r, splitCmd(header(f.r), keyN(50), 2, 21, 22, 23))
	ctx := context.Background()
	// The parent is [key00050, ""): a scan from "" starts at its start.
	kvs, err := f.r.Scan(ctx, reqCtx(f.r), ScanOptions{End: []byte(keyN(60))})
	if err != nil || len(kvs) != 10 || string(kvs[0].Key) != keyN(50) {
		t.Fatalf("clipped scan = %d pairs, %v", len(kvs), err)
	}
	c, err := Open(f.eng, 2)
	if err != nil {
		t.Fatal(err)
	}
	kvs, err = c.Scan(ctx, reqCtx(c), ScanOptions{Start: []byte(keyN(40)), Reverse: true})
	if err != nil || len(kvs) != 10 || string(kvs[0].Key) != keyN(49) {
		t.Fatalf("child reverse scan = %d pairs, %v", len(kvs), err)
	}
}
