package region

import (
	"bytes"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Destroy removes the replica from this store after its peer was removed
// from the region: the region's data span is deleted and its state becomes
// a tombstone, in one batch. The tombstone (with the last range and epoch)
// stays, so the store can tell late messages for the region from messages
// for a region it has never seen; LoadAll skips it.
func (r *Replica) Destroy() error { return r.DestroyOutside(nil) }

// DestroyOutside is Destroy that keeps the data of the ranges in keep: it
// deletes only the parts of the replica's range no region in keep covers
// (the replica's own region is ignored there). A stale replica, one that
// missed splits while its store was down, still has its old, wider range,
// which can overlap regions this store has since been given (split
// children re-created by PD's repair); their data must survive.
//
// The caller must keep replicas from being created in the deleted parts
// until it returns (the store serialises this with snapshot installs).
func (r *Replica) DestroyOutside(keep []*flaredbv1.Region) error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	r.mu.RLock()
	region := r.state.GetRegion()
	ap := r.apply
	r.mu.RUnlock()

	var spans []span
	for _, k := range keep {
		if k.GetId() != region.GetId() {
			spans = append(spans, span{start: k.GetStartKey(), end: k.GetEndKey()})
		}
	}
	st := &flaredbv1.RegionLocalState{Region: proto.CloneOf(region), State: flaredbv1.PeerState_PEER_STATE_TOMBSTONE}
	b := r.eng.NewBatch()
	defer func() { _ = b.Close() }()
	for _, gap := range uncovered(span{start: region.GetStartKey(), end: region.GetEndKey()}, spans) {
		if err := b.DeleteDataRange(gap.start, gap.end); err != nil {
			return fmt.Errorf("destroy region %d: %w", region.GetId(), err)
		}
	}
	if err := b.PutRegionState(st); err != nil {
		return fmt.Errorf("destroy region %d: %w", region.GetId(), err)
	}
	if err := r.commitLocked(b, st, ap); err != nil {
		return fmt.Errorf("destroy region %d: %w", region.GetId(), err)
	}
	return nil
}

// span is the key range [start, end); an empty end is unbounded.
type span struct {
	start, end []byte
}

// uncovered returns the parts of s that no span in cover overlaps, in key
// order. Empty or inverted spans in cover are ignored.
func uncovered(s span, cover []span) []span {
	sorted := make([]span, 0, len(cover))
	for _, c := range cover {
		if len(c.end) == 0 || bytes.Compare(c.start, c.end) < 0 {
			sorted = append(sorted, c)
		}
	}
	slices.SortFunc(sorted, func(a, b span) int { return bytes.Compare(a.start, b.start) })
	var out []span
	cur := s.start
	for _, c := range sorted {
		if len(c.end) > 0 && bytes.Compare(c.end, cur) <= 0 {
			continue // ends before the part still to look at
		}
		if len(s.end) > 0 && bytes.Compare(c.start, s.end) >= 0 {
			break // this one and every later one start past s
		}
		if bytes.Compare(c.start, cur) > 0 {
			out = append(out, span{start: bytes.Clone(cur), end: bytes.Clone(c.start)})
		}
		if len(c.end) == 0 {
			return out // covered to the end of the key space
		}
		cur = c.end
	}
	if len(s.end) == 0 || bytes.Compare(cur, s.end) < 0 {
		out = append(out, span{start: bytes.Clone(cur), end: bytes.Clone(s.end)})
	}
	return out
}
