package pd

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// BenchmarkRegionHeartbeatUnchanged is the steady state of a cluster: a
// leader reports a region whose metadata PD already has (only sizes
// change), against a table of 1,000 regions. It touches no storage.
func BenchmarkRegionHeartbeatUnchanged(b *testing.B) {
	c := benchCluster(b, 1000)
	regions := c.ScanRegions(nil, nil, 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		info := proto.CloneOf(regions[i%len(regions)])
		info.ApproximateSize = uint64(i)
		if _, err := c.RegionHeartbeat(ctx, info); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllocID hands out ids from reserved batches (one Chainfire txn
// per DefaultIDBatch ids).
func BenchmarkAllocID(b *testing.B) {
	c := benchCluster(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.AllocIDs(ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCluster opens a PD on a real Chainfire with 3 up stores and n
// regions of 3 peers each.
func benchCluster(b *testing.B, n int) *Cluster {
	b.Helper()
	f := newFixture(b)
	c := f.open(Config{IDBatch: DefaultIDBatch})
	ctx := context.Background()
	if _, _, err := c.Bootstrap(ctx, store(1), nil); err != nil {
		b.Fatal(err)
	}
	for id := uint64(1); id <= 3; id++ {
		if err := c.StoreHeartbeat(ctx, store(id), &flaredbv1.StoreStats{StoreId: id}); err != nil {
			b.Fatal(err)
		}
	}
	// Regions [k(i), k(i+1)) at a version above the bootstrap region's, so
	// each replaces what it overlaps.
	for i := range n {
		r := region(uint64(1000+i), fmt.Sprintf("k%06d", i), fmt.Sprintf("k%06d", i+1), 3, 5, 1, 2, 3)
		if i == 0 {
			r.StartKey = nil
		}
		if i == n-1 {
			r.EndKey = nil
		}
		if _, err := c.RegionHeartbeat(ctx, &flaredbv1.RegionInfo{Region: r, Leader: r.GetPeers()[0]}); err != nil {
			b.Fatal(err)
		}
	}
	return c
}
