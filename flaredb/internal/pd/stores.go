package pd

import (
	"sort"
	"time"

	"google.golang.org/protobuf/proto"

	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// storeInfo is a store's metadata and what PD last heard from it.
type storeInfo struct {
	meta          *flaredbv1.Store
	stats         *flaredbv1.StoreStats
	lastHeartbeat time.Time // zero: none since PD started
	// startedAt is when the store process started, from its uptime in the
	// last heartbeat (zero: no heartbeat since PD started).
	startedAt time.Time
}

// storeSet is the store registry. Not safe for concurrent use; the cluster
// guards it.
type storeSet struct {
	byID map[uint64]*storeInfo
	// since is when PD started: a store that has not heartbeated since is
	// measured from here, so a PD restart does not declare every store down.
	since time.Time
}

func newStoreSet(now time.Time) *storeSet {
	return &storeSet{byID: make(map[uint64]*storeInfo), since: now}
}

func (s *storeSet) get(id uint64) *storeInfo { return s.byID[id] }

func (s *storeSet) put(meta *flaredbv1.Store) {
	if cur := s.byID[meta.GetId()]; cur != nil {
		cur.meta = proto.CloneOf(meta)
		return
	}
	s.byID[meta.GetId()] = &storeInfo{meta: proto.CloneOf(meta)}
}

// sorted returns the stores ordered by id.
func (s *storeSet) sorted() []*storeInfo {
	out := make([]*storeInfo, 0, len(s.byID))
	for _, st := range s.byID {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].meta.GetId() < out[j].meta.GetId() })
	return out
}

// isDown reports whether the store has been silent for longer than
// downAfter.
func (s *storeSet) isDown(st *storeInfo, now time.Time, downAfter time.Duration) bool {
	last := st.lastHeartbeat
	if last.IsZero() {
		last = s.since
	}
	return now.Sub(last) > downAfter
}

func isTombstone(st *storeInfo) bool {
	return st.meta.GetState() == flaredbv1.StoreState_STORE_STATE_TOMBSTONE
}

// placeable reports whether new replicas may go to the store.
func (s *storeSet) placeable(st *storeInfo, now time.Time, downAfter time.Duration) bool {
	return st.meta.GetState() == flaredbv1.StoreState_STORE_STATE_UP && !s.isDown(st, now, downAfter)
}
