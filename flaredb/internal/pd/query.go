package pd

import (
	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Region returns the region holding key (or, with before, the region
// holding the greatest keys below key), or nil.
func (c *Cluster) Region(key []byte, before bool) *flaredbv1.RegionInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var r *flaredbv1.RegionInfo
	if before {
		r = c.regions.locateBefore(key)
	} else {
		r = c.regions.locate(key)
	}
	return cloneInfo(r)
}

// RegionByID returns the region with id, or nil.
func (c *Cluster) RegionByID(id uint64) *flaredbv1.RegionInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return cloneInfo(c.regions.get(id))
}

// ScanRegions returns up to limit regions overlapping [start, end) in key
// order (limit 0: all).
func (c *Cluster) ScanRegions(start, end []byte, limit int) []*flaredbv1.RegionInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	found := c.regions.scan(start, end, limit)
	out := make([]*flaredbv1.RegionInfo, len(found))
	for i, r := range found {
		out[i] = cloneInfo(r)
	}
	return out
}

// RegionCount is the size of the routing table.
func (c *Cluster) RegionCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.regions.len()
}

// Store returns a store's status, or nil.
func (c *Cluster) Store(id uint64) *flaredbv1.StoreStatus {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := c.stores.get(id)
	if st == nil {
		return nil
	}
	return c.statusLocked(st)
}

// Stores returns every store's status, ordered by id.
func (c *Cluster) Stores() []*flaredbv1.StoreStatus {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*flaredbv1.StoreStatus
	for _, st := range c.stores.sorted() {
		out = append(out, c.statusLocked(st))
	}
	return out
}

func (c *Cluster) statusLocked(st *storeInfo) *flaredbv1.StoreStatus {
	s := &flaredbv1.StoreStatus{
		Store:       proto.CloneOf(st.meta),
		Stats:       proto.CloneOf(st.stats),
		Down:        c.stores.isDown(st, c.cfg.Now(), c.cfg.MaxStoreDownTime),
		RegionCount: uint32(c.regions.peers[st.meta.GetId()]),
		LeaderCount: uint32(c.regions.leaders[st.meta.GetId()]),
	}
	if !st.lastHeartbeat.IsZero() {
		s.LastHeartbeatUnixMs = st.lastHeartbeat.UnixMilli()
	}
	return s
}

func cloneInfo(r *flaredbv1.RegionInfo) *flaredbv1.RegionInfo {
	if r == nil {
		return nil
	}
	return proto.CloneOf(r)
}
