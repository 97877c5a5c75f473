package region

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// TestReadsDuringSplits runs readers against the parent while splits and
// writes are applied. A read that passes the epoch check must only ever
// see keys of the range it was checked against.
func TestReadsDuringSplits(t *testing.T) {
	f := newFixture(t)
	f.putMany(f.r, 1000)
	ctx := context.Background()
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				region := f.r.Region()
				rc := &flaredbv1.Context{RegionId: 1, RegionEpoch: region.GetEpoch()}
				kvs, err := f.r.Scan(ctx, rc, ScanOptions{KeysOnly: true})
				if _, ok := AsRegionError(err); ok {
					continue // the region split between Region() and Scan
				}
				if err != nil {
					errs <- err
					return
				}
				for _, kv := range kvs {
					if bytes.Compare(kv.Key, region.GetStartKey()) < 0 {
						errs <- fmt.Errorf("scan of %q.. returned %q", region.GetStartKey(), kv.Key)
						return
					}
				}
			}
		})
	}
	for i := 1; i <= 20; i++ {
		f.mustApply(f.r, splitCmd(header(f.r), keyN(i*40), uint64(100+i), 1, 2, 3))
		f.mustApply(f.r, putCmd(header(f.r), keyN(i*40+1), "again"))
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
