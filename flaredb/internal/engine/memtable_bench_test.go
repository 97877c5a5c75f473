package engine

import (
	"fmt"
	"math/rand"
	"syscall"
	"testing"
	"time"
)

// BenchmarkApplyMemTable applies single-key batches (a data key and an
// apply state, as one applied Raft entry of a region writes) to random
// keys of a 20,000-key space, with the memtable already holding 150,000
// of them, for several memtable sizes. cpu-ns/op is the process's CPU
// time per batch, flushes and compactions included.
func BenchmarkApplyMemTable(b *testing.B) {
	for _, mb := range []uint64{8, 16, 64} {
		b.Run(fmt.Sprintf("%dMiB", mb), func(b *testing.B) {
			e, err := Open(b.TempDir(), Options{MemTableSize: mb << 20, ApplyNoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = e.Close() }()
			val := make([]byte, 256)
			rng := rand.New(rand.NewSource(1))
			apply := func() {
				bt := e.NewBatch()
				defer func() { _ = bt.Close() }()
				if err := bt.PutData(fmt.Appendf(nil, "%08d", rng.Intn(20000)), val); err != nil {
					b.Fatal(err)
				}
				if err := bt.b.Set(ApplyStateKey(uint64(rng.Intn(64))), val[:16], nil); err != nil {
					b.Fatal(err)
				}
				if err := bt.CommitApply(); err != nil {
					b.Fatal(err)
				}
			}
			for range 150000 {
				apply()
			}
			b.ResetTimer()
			start := cpuTime()
			for range b.N {
				apply()
			}
			if err := e.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
