package store

import (
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// countingTransport is hashicorp's NetworkTransport (embedded, so raft
// still finds every optional interface it implements) that counts the
// AppendEntries calls carrying no entries: the leader's heartbeats, which
// are most of what an idle region costs.
type countingTransport struct {
	*raft.NetworkTransport
	heartbeats *atomic.Uint64
}

func (t countingTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if len(args.Entries) == 0 {
		t.heartbeats.Add(1)
	}
	return t.NetworkTransport.AppendEntries(id, target, args, resp)
}

// Metrics are cumulative counters of the store's raft groups.
type Metrics struct {
	// HeartbeatsSent counts empty AppendEntries sent by region leaders.
	HeartbeatsSent uint64
	// Regions is the number of replicas hosted.
	Regions int
}

// Metrics reports the store's counters.
func (s *Store) Metrics() Metrics {
	s.mu.RLock()
	n := len(s.peers)
	s.mu.RUnlock()
	return Metrics{HeartbeatsSent: s.heartbeats.Load(), Regions: n}
}
