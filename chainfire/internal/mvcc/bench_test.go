package mvcc

import (
	"fmt"
	"testing"
)

// BenchmarkPut measures txns of one 100-byte put, batch txns per Update
// (one fsync per Update). ns/op is per txn.
func BenchmarkPut(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := openTest(b, Options{})
			val := make([]byte, 100)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				err := update(s, func(bt *Batch) error {
					for j := i; j < min(i+batch, b.N); j++ {
						if _, err := bt.Txn(func(tx *WriteTxn) error {
							_, err := tx.Put([]byte(fmt.Sprintf("key-%08d", j%10000)), val, 0)
							return err
						}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRange reads from a store of 10k keys with 3 versions each.
func BenchmarkRange(b *testing.B) {
	s := openTest(b, Options{})
	fillHistory(b, s, 10000, 3, make([]byte, 100))
	cases := []struct {
		name     string
		key, end string
		opts     RangeOptions
	}{
		{"single", "key-0005", "", RangeOptions{}},
		{"single-historical", "key-0005", "", RangeOptions{Rev: 5000}},
		{"prefix-100", "key-01", "key-02", RangeOptions{}},
		{"all-limit-10", "\x00", "\x00", RangeOptions{Limit: 10}},
		{"all-count-only", "\x00", "\x00", RangeOptions{CountOnly: true}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := s.Range([]byte(c.key), []byte(c.end), c.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("single-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Range([]byte("key-0005"), nil, RangeOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
