package region

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/flaredb/internal/engine"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// SplitResult describes an applied split.
type SplitResult struct {
	// Parent is the parent's new metadata: [split_key, old end).
	Parent *flaredbv1.Region
	// Child is the new region: [old start, split_key).
	Child *flaredbv1.Region
	// ChildCreated is false when this store already held the child (a
	// lagging replica whose child peer got a snapshot from the child's
	// leader first); its newer state was kept.
	ChildCreated bool
}

// checkSplit validates a split against the region it cuts.
func checkSplit(region *flaredbv1.Region, s *flaredbv1.SplitCommand) error {
	key := s.GetSplitKey()
	if err := checkKeys(region, key); err != nil {
		return err
	}
	if bytes.Equal(key, region.GetStartKey()) {
		return fmt.Errorf("%w: split key is the region's start key", ErrInvalidCommand)
	}
	if s.GetNewRegionId() == 0 || s.GetNewRegionId() == region.GetId() {
		return fmt.Errorf("%w: bad new region id %d", ErrInvalidCommand, s.GetNewRegionId())
	}
	if len(s.GetNewPeerIds()) != len(region.GetPeers()) {
		return fmt.Errorf("%w: %d new peer ids for %d peers", ErrInvalidCommand, len(s.GetNewPeerIds()), len(region.GetPeers()))
	}
	seen := make(map[uint64]bool, len(s.GetNewPeerIds()))
	for _, id := range s.GetNewPeerIds() {
		if id == 0 || seen[id] {
			return fmt.Errorf("%w: bad new peer id %d", ErrInvalidCommand, id)
		}
		seen[id] = true
	}
	return nil
}

// splitRegions computes the parent's and child's metadata (right-derive:
// the parent keeps the right part).
func splitRegions(parent *flaredbv1.Region, s *flaredbv1.SplitCommand) (newParent, child *flaredbv1.Region) {
	epoch := &flaredbv1.RegionEpoch{ConfVer: parent.GetEpoch().GetConfVer(), Version: parent.GetEpoch().GetVersion() + 1}
	child = &flaredbv1.Region{
		Id:       s.GetNewRegionId(),
		StartKey: parent.GetStartKey(),
		EndKey:   s.GetSplitKey(),
		Epoch:    proto.CloneOf(epoch),
	}
	for i, p := range parent.GetPeers() {
		child.Peers = append(child.Peers, &flaredbv1.Peer{Id: s.GetNewPeerIds()[i], StoreId: p.GetStoreId(), Role: p.GetRole()})
	}
	newParent = proto.CloneOf(parent)
	newParent.StartKey = s.GetSplitKey()
	newParent.Epoch = epoch
	return newParent, child
}

// applySplit writes the child's state and initial apply state into the
// batch and switches the applier to the parent's new range.
func (a *applier) applySplit(b *engine.Batch, s *flaredbv1.SplitCommand) (*SplitResult, error) {
	parent, child := splitRegions(a.state.GetRegion(), s)
	res := &SplitResult{Parent: proto.CloneOf(parent), Child: proto.CloneOf(child)}
	_, err := b.RegionState(child.GetId())
	switch {
	case errors.Is(err, engine.ErrNotFound):
		st := &flaredbv1.RegionLocalState{Region: child, State: flaredbv1.PeerState_PEER_STATE_NORMAL}
		if err := writeRegion(b, st, &flaredbv1.RegionApplyState{AppliedIndex: InitialAppliedIndex}); err != nil {
			return nil, err
		}
		res.ChildCreated = true
	case err != nil:
		return nil, err
	}
	a.state = &flaredbv1.RegionLocalState{Region: parent, State: a.state.GetState()}
	a.metaChanged = true
	return res, nil
}
