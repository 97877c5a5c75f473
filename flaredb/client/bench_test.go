package client

import (
	"fmt"
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// BenchmarkRegionCacheLookup routes keys through a cache of 10,000
// regions, the work every request does before it is sent.
func BenchmarkRegionCacheLookup(b *testing.B) {
	c := newRegionCache()
	const n = 10000
	for i := range n {
		r := &flaredbv1.Region{Id: uint64(i + 1), Epoch: &flaredbv1.RegionEpoch{ConfVer: 1, Version: 1},
			Peers: []*flaredbv1.Peer{{Id: uint64(i + 100000), StoreId: 1}}}
		if i > 0 {
			r.StartKey = fmt.Appendf(nil, "k%08d", i*10)
		}
		if i < n-1 {
			r.EndKey = fmt.Appendf(nil, "k%08d", (i+1)*10)
		}
		c.insert(r, nil)
	}
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "k%08d", (i*7919)%(n*10))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if c.lookup(keys[i%len(keys)]) == nil {
				b.Fatal("miss")
			}
			i++
		}
	})
}
