package pd

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/photoncloud/core/proto/etcdserverpb"
)

// DefaultIDBatch is how many ids one Chainfire round trip reserves.
const DefaultIDBatch = 1000

// maxAllocAttempts bounds the compare-and-swap loop when another PD keeps
// winning the race for the allocator key.
const maxAllocAttempts = 16

// idAllocator hands out unique ids. It reserves a batch (last, last+batch]
// by writing the new high-water mark to Chainfire with a compare on the
// key's mod_revision, then serves the batch from memory. Ids are never
// reused: a restart starts above whatever was reserved, even if unused.
type idAllocator struct {
	meta  *metaStore
	batch uint64
	// onReserve, when set, is called after each reserved batch.
	onReserve func()

	mu   sync.Mutex
	next uint64 // next id to hand out
	end  uint64 // last id of the reserved batch (next > end: none left)
}

func newIDAllocator(meta *metaStore, batch uint64) *idAllocator {
	if batch == 0 {
		batch = DefaultIDBatch
	}
	return &idAllocator{meta: meta, batch: batch, next: 1}
}

// alloc returns n unique ids.
func (a *idAllocator) alloc(ctx context.Context, n int) ([]uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]uint64, 0, n)
	for len(ids) < n {
		if a.next > a.end {
			if err := a.reserve(ctx); err != nil {
				return nil, err
			}
		}
		ids = append(ids, a.next)
		a.next++
	}
	return ids, nil
}

// reserve moves the high-water mark in Chainfire up by one batch.
func (a *idAllocator) reserve(ctx context.Context) error {
	key := a.meta.allocKey()
	for range maxAllocAttempts {
		cur, modRev, err := a.read(ctx)
		if err != nil {
			return err
		}
		newEnd := cur + a.batch
		resp, err := a.meta.kv.Txn(ctx, &etcdserverpb.TxnRequest{
			Compare: []*etcdserverpb.Compare{{
				Key:         key,
				Target:      etcdserverpb.Compare_MOD,
				Result:      etcdserverpb.Compare_EQUAL,
				TargetUnion: &etcdserverpb.Compare_ModRevision{ModRevision: modRev},
			}},
			Success: []*etcdserverpb.RequestOp{putOp(key, []byte(strconv.FormatUint(newEnd, 10)))},
		})
		if err != nil {
			return fmt.Errorf("reserve ids: %w", err)
		}
		if resp.GetSucceeded() {
			a.next, a.end = cur+1, newEnd
			if a.onReserve != nil {
				a.onReserve()
			}
			return nil
		}
	}
	return fmt.Errorf("reserve ids: lost the compare-and-swap %d times in a row", maxAllocAttempts)
}

// read returns the stored high-water mark and the key's mod_revision (0,0
// when the key does not exist yet).
func (a *idAllocator) read(ctx context.Context) (uint64, int64, error) {
	resp, err := a.meta.kv.Range(ctx, &etcdserverpb.RangeRequest{Key: a.meta.allocKey()})
	if err != nil {
		return 0, 0, fmt.Errorf("read id allocator: %w", err)
	}
	if len(resp.GetKvs()) == 0 {
		return 0, 0, nil
	}
	kv := resp.GetKvs()[0]
	cur, err := strconv.ParseUint(string(kv.GetValue()), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("read id allocator: corrupt value %q: %w", kv.GetValue(), err)
	}
	return cur, kv.GetModRevision(), nil
}
