package kvservice

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/photoncloud/core/flaredb/internal/store"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// benchCluster is a 3-store cluster split into n regions at evenly spaced
// 8-byte keys.
func benchCluster(b *testing.B, n int) *cluster {
	c := newCluster(b, 3, store.Config{}, true)
	for i := 1; i < n; i++ {
		k := benchKey(uint64(i) * (1 << 16) / uint64(n))
		var nd *node
		var r *flaredbv1.Region
		waitFor(b, "leader", func() bool { nd, r = c.leaderFor(k); return nd != nil })
		if _, err := nd.admin.SplitRegion(context.Background(), connect.NewRequest(&flaredbv1.SplitRegionRequest{RegionId: r.GetId(), SplitKey: k})); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

func benchKey(i uint64) []byte { return []byte(fmt.Sprintf("%08x", i%(1<<16))) }

func benchmarkOp(b *testing.B, regions int, op func(c *cluster, k []byte) error) {
	c := benchCluster(b, regions)
	value := make([]byte, 256)
	for i := 0; i < 1<<10; i++ {
		if err := c.put(benchKey(uint64(i)*16), value); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Uint64
	b.SetParallelism(64 / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(c, benchKey(seq.Add(1)*16)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// BenchmarkPut: 64 concurrent clients, 8-byte keys, 256-byte values,
// three stores in this process (no HTTP), 1 and 8 regions.
func BenchmarkPut(b *testing.B) {
	value := make([]byte, 256)
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("regions=%d", n), func(b *testing.B) {
			benchmarkOp(b, n, func(c *cluster, k []byte) error { return c.put(k, value) })
		})
	}
}

// BenchmarkGet: linearizable (ReadIndex) gets under the same load.
func BenchmarkGet(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("regions=%d", n), func(b *testing.B) {
			benchmarkOp(b, n, func(c *cluster, k []byte) error { _, _, err := c.get(k); return err })
		})
	}
}

// BenchmarkIdleRegions reports the goroutines each idle region costs
// across the three stores.
func BenchmarkIdleRegions(b *testing.B) {
	for i := 0; i < b.N; i++ {
		before := runtime.NumGoroutine()
		c := benchCluster(b, 50)
		time.Sleep(2 * time.Second)
		after := runtime.NumGoroutine()
		b.ReportMetric(float64(after-before)/50, "goroutines/region")
		for _, nd := range c.list() {
			c.stop(nd.id)
		}
	}
}
