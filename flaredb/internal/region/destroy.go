package region

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Destroy removes the replica from this store after its peer was removed
// from the region: the region's data span is deleted and its state becomes
// a tombstone, in one batch. The tombstone (with the last range and epoch)
// stays, so the store can tell late messages for the region from messages
// for a region it has never seen; LoadAll skips it.
func (r *Replica) Destroy() error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	r.mu.RLock()
	region := r.state.GetRegion()
	ap := r.apply
	r.mu.RUnlock()

	st := &flaredbv1.RegionLocalState{Region: proto.CloneOf(region), State: flaredbv1.PeerState_PEER_STATE_TOMBSTONE}
	b := r.eng.NewBatch()
	defer func() { _ = b.Close() }()
	if err := b.DeleteDataRange(region.GetStartKey(), region.GetEndKey()); err != nil {
		return fmt.Errorf("destroy region %d: %w", region.GetId(), err)
	}
	if err := b.PutRegionState(st); err != nil {
		return fmt.Errorf("destroy region %d: %w", region.GetId(), err)
	}
	if err := r.commitLocked(b, st, ap); err != nil {
		return fmt.Errorf("destroy region %d: %w", region.GetId(), err)
	}
	return nil
}
