package client

import (
	"bytes"
	"sync"

	"github.com/google/btree"
	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// location is an immutable snapshot of one cached region: requests are
// routed with it and region errors are interpreted against it.
type location struct {
	region *flaredbv1.Region
	// leader is the peer requests go to (the known leader, or a guess).
	leader *flaredbv1.Peer
}

func (l *location) contains(key []byte) bool {
	return bytes.Compare(key, l.region.GetStartKey()) >= 0 && beforeEnd(key, l.region.GetEndKey())
}

// containsBefore reports whether the region holds the keys just below end
// (an exclusive bound; empty: the end of the key space).
func (l *location) containsBefore(end []byte) bool {
	r := l.region
	if len(end) == 0 {
		return len(r.GetEndKey()) == 0
	}
	return bytes.Compare(r.GetStartKey(), end) < 0 && (len(r.GetEndKey()) == 0 || bytes.Compare(end, r.GetEndKey()) <= 0)
}

func (l *location) rpcContext() *flaredbv1.Context {
	return &flaredbv1.Context{RegionId: l.region.GetId(), RegionEpoch: l.region.GetEpoch(), Peer: l.leader}
}

func beforeEnd(key, end []byte) bool { return len(end) == 0 || bytes.Compare(key, end) < 0 }

// regionCache maps keys to regions, ordered by start key. Entries are
// replaced, never modified, so a location handed out stays consistent.
type regionCache struct {
	mu   sync.RWMutex
	tree *btree.BTreeG[*location]
	byID map[uint64]*location
}

func newRegionCache() *regionCache {
	return &regionCache{
		tree: btree.NewG(32, func(a, b *location) bool {
			return bytes.Compare(a.region.GetStartKey(), b.region.GetStartKey()) < 0
		}),
		byID: make(map[uint64]*location),
	}
}

func pivot(key []byte) *location { return &location{region: &flaredbv1.Region{StartKey: key}} }

// lookup returns the cached region holding key, or nil.
func (c *regionCache) lookup(key []byte) *location {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var found *location
	c.tree.DescendLessOrEqual(pivot(key), func(l *location) bool {
		found = l
		return false
	})
	if found == nil || !found.contains(key) {
		return nil
	}
	return found
}

// lookupBefore returns the cached region holding the keys just below end.
func (c *regionCache) lookupBefore(end []byte) *location {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var found *location
	visit := func(l *location) bool {
		if len(end) > 0 && bytes.Compare(l.region.GetStartKey(), end) >= 0 {
			return true
		}
		found = l
		return false
	}
	if len(end) == 0 {
		c.tree.Descend(visit)
	} else {
		c.tree.DescendLessOrEqual(pivot(end), visit)
	}
	if found == nil || !found.containsBefore(end) {
		return nil
	}
	return found
}

func (c *regionCache) get(id uint64) *location {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byID[id]
}

// insert adds r (with leader, or a guess when nil) unless the cache already
// holds the same region at a newer epoch, and drops every entry r overlaps.
// It returns the entry now cached for r's id.
func (c *regionCache) insert(r *flaredbv1.Region, leader *flaredbv1.Peer) *location {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.insertLocked(r, leader)
}

func (c *regionCache) insertLocked(r *flaredbv1.Region, leader *flaredbv1.Peer) *location {
	if cur := c.byID[r.GetId()]; cur != nil && olderEpoch(r.GetEpoch(), cur.region.GetEpoch()) {
		return cur
	}
	if leader == nil || findPeer(r, leader.GetId()) == nil {
		leader = nil
		if len(r.GetPeers()) > 0 {
			leader = r.GetPeers()[0]
		}
	}
	loc := &location{region: proto.CloneOf(r), leader: proto.CloneOf(leader)}
	for _, o := range c.overlapsLocked(r) {
		c.removeLocked(o)
	}
	if cur := c.byID[r.GetId()]; cur != nil {
		c.removeLocked(cur)
	}
	c.tree.ReplaceOrInsert(loc)
	c.byID[r.GetId()] = loc
	return loc
}

func (c *regionCache) overlapsLocked(r *flaredbv1.Region) []*location {
	var out []*location
	start := pivot(r.GetStartKey())
	c.tree.DescendLessOrEqual(start, func(l *location) bool {
		if beforeEnd(r.GetStartKey(), l.region.GetEndKey()) {
			out = append(out, l)
		}
		return false
	})
	c.tree.AscendGreaterOrEqual(start, func(l *location) bool {
		if !beforeEnd(l.region.GetStartKey(), r.GetEndKey()) {
			return false
		}
		if len(out) == 0 || out[len(out)-1] != l {
			out = append(out, l)
		}
		return true
	})
	return out
}

func (c *regionCache) removeLocked(l *location) {
	if c.byID[l.region.GetId()] == l {
		delete(c.byID, l.region.GetId())
	}
	if got, ok := c.tree.Get(l); ok && got == l {
		c.tree.Delete(l)
	}
}

// invalidate drops the entry for id if it is still stale (the location the
// caller saw).
func (c *regionCache) invalidate(stale *location) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(stale)
}

// setLeader records leader for the region of stale, if that entry is still
// current and leader is one of its peers. It reports whether it did.
func (c *regionCache) setLeader(stale *location, leader *flaredbv1.Peer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.byID[stale.region.GetId()]
	if cur == nil || findPeer(cur.region, leader.GetId()) == nil {
		return false
	}
	if cur.leader.GetId() == leader.GetId() {
		return true
	}
	c.swapLocked(&location{region: cur.region, leader: proto.CloneOf(leader)})
	return true
}

// nextPeer moves the region's guessed leader off the peer on storeID (which
// failed or does not know the leader) to the region's next peer.
func (c *regionCache) nextPeer(stale *location, storeID uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.byID[stale.region.GetId()]
	if cur == nil || cur.leader.GetStoreId() != storeID {
		return
	}
	peers := cur.region.GetPeers()
	for i, p := range peers {
		if p.GetId() == cur.leader.GetId() {
			c.swapLocked(&location{region: cur.region, leader: peers[(i+1)%len(peers)]})
			return
		}
	}
}

// swapLocked replaces the entry of the same region (same id and range).
func (c *regionCache) swapLocked(loc *location) {
	c.tree.ReplaceOrInsert(loc)
	c.byID[loc.region.GetId()] = loc
}

// replace handles EpochNotMatch: the stale entry goes, and the regions the
// store reported take its place. The store that answered most likely leads
// them too (children start on their parent's stores, and the parent's
// leader usually wins their first election), so its peer becomes the
// guessed leader.
func (c *regionCache) replace(stale *location, current []*flaredbv1.Region, storeID uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(stale)
	for _, r := range current {
		if r.GetId() == 0 || r.GetEpoch() == nil {
			continue
		}
		c.insertLocked(r, peerOnStore(r, storeID))
	}
}

// len is the number of cached regions.
func (c *regionCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byID)
}

func olderEpoch(a, b *flaredbv1.RegionEpoch) bool {
	if a.GetVersion() != b.GetVersion() {
		return a.GetVersion() < b.GetVersion()
	}
	return a.GetConfVer() < b.GetConfVer()
}

func findPeer(r *flaredbv1.Region, id uint64) *flaredbv1.Peer {
	for _, p := range r.GetPeers() {
		if p.GetId() == id {
			return p
		}
	}
	return nil
}

func peerOnStore(r *flaredbv1.Region, storeID uint64) *flaredbv1.Peer {
	for _, p := range r.GetPeers() {
		if p.GetStoreId() == storeID {
			return p
		}
	}
	return nil
}
