package store

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/flaredb/internal/region"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// fsm is a region's raft.BatchingFSM: it decodes committed entries and
// applies them to the region's replica in one engine batch.
//
// Every entry raft hands over advances the replica's applied index,
// including configuration changes and the empty command a new leader
// commits (both decode to a command the replica rejects as a no-op), so the
// applied index tracks raft's own and a read index always lands on an
// entry the replica applies.
type fsm struct {
	peer *Peer

	mu  sync.RWMutex
	rep *region.Replica // nil until a snapshot initialises an added peer
}

var _ raft.BatchingFSM = (*fsm)(nil)

func (f *fsm) replica() *region.Replica {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.rep
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM. An engine failure leaves the
// replica's state unknown: the store cannot go on applying this region
// without risking divergence, so it stops the process rather than skip
// an entry.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	rep := f.replica()
	out := make([]any, len(logs))
	if rep == nil {
		// An uninitialised peer has no data to apply to; raft only sends it
		// entries after a snapshot, which initialises it.
		for i := range out {
			out[i] = region.Result{Index: logs[i].Index, Err: region.RegionNotFoundError(f.peer.regionID)}
		}
		return out
	}
	entries := make([]region.Entry, len(logs))
	for i, l := range logs {
		cmd := &flaredbv1.RaftCommand{}
		if l.Type == raft.LogCommand && len(l.Data) > 0 {
			if err := proto.Unmarshal(l.Data, cmd); err != nil {
				cmd = &flaredbv1.RaftCommand{} // applied as a rejected no-op
			}
		}
		entries[i] = region.Entry{Index: l.Index, Term: l.Term, Command: cmd}
	}
	results, err := rep.ApplyBatch(entries)
	if err != nil {
		panic(fmt.Sprintf("flaredb: region %d: %v", f.peer.regionID, err))
	}
	for i, res := range results {
		out[i] = res
		f.peer.afterApply(res)
	}
	return out
}

// Snapshot implements raft.FSM.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	rep := f.replica()
	if rep == nil {
		return nil, fmt.Errorf("region %d: no data to snapshot yet", f.peer.regionID)
	}
	// Raft drops the log up to this snapshot once it is saved: everything
	// applied so far must be durable first (applies skip the fsync).
	if err := f.peer.store.eng.Sync(); err != nil {
		return nil, err
	}
	s, err := rep.Snapshot()
	if err != nil {
		return nil, err
	}
	return fsmSnapshot{s}, nil
}

// Restore implements raft.FSM: it installs a leader's snapshot, creating
// the replica's data when the peer was added empty.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer func() { _ = rc.Close() }()
	ctx := context.Background()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rep != nil {
		return f.rep.Install(ctx, rc)
	}
	// The new replica's range may lie in a stale replica's being destroyed
	// (see Store.destroyReplica): not both at once.
	f.peer.store.members.rangeMu.Lock()
	defer f.peer.store.members.rangeMu.Unlock()
	rep, err := region.InstallNew(ctx, f.peer.store.eng, rc)
	if err != nil {
		return err
	}
	if rep.ID() != f.peer.regionID {
		return fmt.Errorf("snapshot of region %d installed into region %d", rep.ID(), f.peer.regionID)
	}
	f.rep = rep
	return nil
}

type fsmSnapshot struct{ s *region.Snapshot }

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.s.WriteTo(context.Background(), sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() { _ = s.s.Close() }
