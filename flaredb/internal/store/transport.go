package store

import (
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/photoncloud/core/flaredb/internal/raftmux"
)

// countingTransport is hashicorp's NetworkTransport (embedded, so raft
// still finds every optional interface it implements) that counts the
// AppendEntries carrying no entries: the leader's heartbeats and the
// empty appends that tell followers the commit index (every CommitTimeout),
// which are most of what an idle region costs.
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

func (t countingTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := t.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return countingPipeline{p, t.heartbeats}, nil
}

type countingPipeline struct {
	raft.AppendPipeline
	heartbeats *atomic.Uint64
}

func (p countingPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	if len(args.Entries) == 0 {
		p.heartbeats.Add(1)
	}
	return p.AppendPipeline.AppendEntries(args, resp)
}

// Metrics are cumulative counters of the store's raft groups.
type Metrics struct {
	// HeartbeatsSent counts empty AppendEntries (heartbeats, commit-index
	// updates) sent by region leaders.
	HeartbeatsSent uint64
	// Regions is the number of replicas hosted.
	Regions int
	// Quiescent is the number of led regions with slowed heartbeats.
	Quiescent int64
	// Mux counts the raft port's store-to-store sessions and how many
	// frames (RPCs, responses, flow-control updates) went out in how many
	// write syscalls.
	Mux raftmux.Stats
}

// Metrics reports the store's counters.
func (s *Store) Metrics() Metrics {
	m := Metrics{HeartbeatsSent: s.heartbeats.Load(), Mux: s.mux.Stats()}
	for _, p := range s.Peers() {
		m.Regions++
		if p.Quiescent() {
			m.Quiescent++
		}
	}
	return m
}
