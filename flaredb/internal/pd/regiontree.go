package pd

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/google/btree"
	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// errStale marks a heartbeat or split report older than what PD knows.
var errStale = errors.New("stale region epoch")

// regionTree is the routing table: regions ordered by start key, indexed by
// id, with per-store peer and leader counts kept up to date. It is not safe
// for concurrent use; the cluster guards it.
type regionTree struct {
	byKey   *btree.BTreeG[*flaredbv1.RegionInfo]
	byID    map[uint64]*flaredbv1.RegionInfo
	peers   map[uint64]int // store id -> peers placed on it
	leaders map[uint64]int // store id -> leaders on it
}

func newRegionTree() *regionTree {
	return &regionTree{
		byKey:   btree.NewG(32, func(a, b *flaredbv1.RegionInfo) bool { return bytes.Compare(startOf(a), startOf(b)) < 0 }),
		byID:    make(map[uint64]*flaredbv1.RegionInfo),
		peers:   make(map[uint64]int),
		leaders: make(map[uint64]int),
	}
}

func startOf(r *flaredbv1.RegionInfo) []byte { return r.GetRegion().GetStartKey() }
func endOf(r *flaredbv1.RegionInfo) []byte   { return r.GetRegion().GetEndKey() }

// pivot is a search key for the B-tree.
func pivot(key []byte) *flaredbv1.RegionInfo {
	return &flaredbv1.RegionInfo{Region: &flaredbv1.Region{StartKey: key}}
}

func (t *regionTree) len() int { return len(t.byID) }

func (t *regionTree) get(id uint64) *flaredbv1.RegionInfo { return t.byID[id] }

// locate returns the region whose range holds key, or nil.
func (t *regionTree) locate(key []byte) *flaredbv1.RegionInfo {
	var found *flaredbv1.RegionInfo
	t.byKey.DescendLessOrEqual(pivot(key), func(r *flaredbv1.RegionInfo) bool {
		found = r
		return false
	})
	if found == nil || !beforeEnd(key, endOf(found)) {
		return nil
	}
	return found
}

// locateBefore returns the region holding the greatest keys below end (an
// exclusive bound; empty means the end of the key space), or nil.
func (t *regionTree) locateBefore(end []byte) *flaredbv1.RegionInfo {
	var found *flaredbv1.RegionInfo
	visit := func(r *flaredbv1.RegionInfo) bool {
		if len(end) > 0 && bytes.Compare(startOf(r), end) >= 0 {
			return true // starts at or after end: keep walking down
		}
		found = r
		return false
	}
	if len(end) == 0 {
		t.byKey.Descend(visit)
	} else {
		t.byKey.DescendLessOrEqual(pivot(end), visit)
	}
	if found == nil {
		return nil
	}
	// found starts below end; it must also reach up to end, or there is a
	// hole just below end.
	if len(end) > 0 && len(endOf(found)) > 0 && bytes.Compare(endOf(found), end) < 0 {
		return nil
	}
	return found
}

// scan returns up to limit regions overlapping [start, end) in key order
// (empty end: to the end; limit 0: all).
func (t *regionTree) scan(start, end []byte, limit int) []*flaredbv1.RegionInfo {
	var out []*flaredbv1.RegionInfo
	first := t.locate(start)
	from := pivot(start)
	if first != nil {
		from = first
	}
	t.byKey.AscendGreaterOrEqual(from, func(r *flaredbv1.RegionInfo) bool {
		if len(end) > 0 && bytes.Compare(startOf(r), end) >= 0 {
			return false
		}
		out = append(out, r)
		return limit <= 0 || len(out) < limit
	})
	return out
}

// overlaps returns the regions whose ranges intersect r's.
func (t *regionTree) overlaps(r *flaredbv1.Region) []*flaredbv1.RegionInfo {
	var out []*flaredbv1.RegionInfo
	for _, o := range t.scan(r.GetStartKey(), r.GetEndKey(), 0) {
		if beforeEnd(r.GetStartKey(), endOf(o)) {
			out = append(out, o)
		}
	}
	return out
}

// checkUpdate decides whether r may replace what PD knows. It returns the
// regions r replaces (the old copy of r itself and every region it
// overlaps), or errStale.
func (t *regionTree) checkUpdate(r *flaredbv1.Region) ([]*flaredbv1.RegionInfo, error) {
	if err := validRegion(r); err != nil {
		return nil, err
	}
	var replaced []*flaredbv1.RegionInfo
	if old := t.byID[r.GetId()]; old != nil {
		if olderEpoch(r.GetEpoch(), old.GetRegion().GetEpoch()) {
			return nil, fmt.Errorf("%w: region %d epoch %v is older than the known %v", errStale, r.GetId(), r.GetEpoch(), old.GetRegion().GetEpoch())
		}
		replaced = append(replaced, old)
	}
	for _, o := range t.overlaps(r) {
		if o.GetRegion().GetId() == r.GetId() {
			continue
		}
		if r.GetEpoch().GetVersion() < o.GetRegion().GetEpoch().GetVersion() {
			return nil, fmt.Errorf("%w: region %d version %d overlaps region %d with version %d",
				errStale, r.GetId(), r.GetEpoch().GetVersion(), o.GetRegion().GetId(), o.GetRegion().GetEpoch().GetVersion())
		}
		replaced = append(replaced, o)
	}
	return replaced, nil
}

// olderEpoch reports whether a is older than b for the same region: a
// lower version, or the same version and a lower conf_ver.
func olderEpoch(a, b *flaredbv1.RegionEpoch) bool {
	if a.GetVersion() != b.GetVersion() {
		return a.GetVersion() < b.GetVersion()
	}
	return a.GetConfVer() < b.GetConfVer()
}

// apply removes replaced and inserts info (which must have passed
// checkUpdate with the same table).
func (t *regionTree) apply(info *flaredbv1.RegionInfo, replaced []*flaredbv1.RegionInfo) {
	for _, o := range replaced {
		t.remove(o)
	}
	t.insert(info)
}

func (t *regionTree) insert(info *flaredbv1.RegionInfo) {
	t.byKey.ReplaceOrInsert(info)
	t.byID[info.GetRegion().GetId()] = info
	t.count(info, 1)
}

func (t *regionTree) remove(info *flaredbv1.RegionInfo) {
	cur, ok := t.byID[info.GetRegion().GetId()]
	if !ok || cur != info {
		return
	}
	delete(t.byID, info.GetRegion().GetId())
	if got, ok := t.byKey.Get(info); ok && got == info {
		t.byKey.Delete(info)
	}
	t.count(info, -1)
}

func (t *regionTree) count(info *flaredbv1.RegionInfo, d int) {
	for _, p := range info.GetRegion().GetPeers() {
		t.peers[p.GetStoreId()] += d
	}
	if l := info.GetLeader(); l.GetStoreId() != 0 {
		t.leaders[l.GetStoreId()] += d
	}
}

// all returns every region in key order.
func (t *regionTree) all() []*flaredbv1.RegionInfo { return t.scan(nil, nil, 0) }

// beforeEnd reports whether key < end, an empty end being unbounded.
func beforeEnd(key, end []byte) bool { return len(end) == 0 || bytes.Compare(key, end) < 0 }

// validRegion rejects region metadata PD could not route with.
func validRegion(r *flaredbv1.Region) error {
	switch {
	case r == nil:
		return errors.New("missing region")
	case r.GetId() == 0:
		return errors.New("region id 0")
	case r.GetEpoch() == nil:
		return fmt.Errorf("region %d has no epoch", r.GetId())
	case len(r.GetEndKey()) > 0 && bytes.Compare(r.GetStartKey(), r.GetEndKey()) >= 0:
		return fmt.Errorf("region %d has start key %q not below end key %q", r.GetId(), r.GetStartKey(), r.GetEndKey())
	case len(r.GetPeers()) == 0:
		return fmt.Errorf("region %d has no peers", r.GetId())
	}
	stores := make(map[uint64]bool, len(r.GetPeers()))
	for _, p := range r.GetPeers() {
		if p.GetId() == 0 || p.GetStoreId() == 0 || stores[p.GetStoreId()] {
			return fmt.Errorf("region %d has a bad peer list %v", r.GetId(), r.GetPeers())
		}
		stores[p.GetStoreId()] = true
	}
	return nil
}

// sameMeta reports whether a and b describe the same region metadata and
// leader, so an update changes only statistics.
func sameMeta(a, b *flaredbv1.RegionInfo) bool {
	return proto.Equal(a.GetRegion(), b.GetRegion()) && a.GetLeader().GetId() == b.GetLeader().GetId()
}
