package region

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/flaredb/internal/engine"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// InitialAppliedIndex is the applied index a region starts with, both when
// bootstrapped and when created by a split. A new region's Raft group is
// bootstrapped fresh (hashicorp/raft writes its initial configuration at
// index 1), so every command it later commits has an index above this and
// is applied; nothing of the parent's log is replayed into the child.
const InitialAppliedIndex = 0

// Replica is one region's state machine on a store. Apply methods must be
// called from one goroutine at a time (the region's Raft FSM goroutine);
// reads may run concurrently with them.
type Replica struct {
	eng *engine.Engine

	// applyMu serialises the writers: Apply, ApplyBatch, Install.
	applyMu sync.Mutex

	// mu guards the in-memory copy of the persisted state. Readers hold it
	// while they check an epoch and open their engine view, so the view
	// never predates a range change they were checked against.
	mu    sync.RWMutex
	state *flaredbv1.RegionLocalState
	apply *flaredbv1.RegionApplyState
	// applied is closed (and replaced) whenever new state is published, to
	// wake WaitApplied callers.
	applied chan struct{}
}

func newReplica(eng *engine.Engine, st *flaredbv1.RegionLocalState, ap *flaredbv1.RegionApplyState) *Replica {
	return &Replica{eng: eng, state: st, apply: ap, applied: make(chan struct{})}
}

// Create writes a brand-new region (cluster bootstrap, or a region this
// store learns of before its Raft group starts) and returns its replica. It
// fails if the engine already holds the region.
func Create(eng *engine.Engine, meta *flaredbv1.Region) (*Replica, error) {
	if meta.GetId() == 0 || meta.GetEpoch() == nil {
		return nil, fmt.Errorf("create region: %w: region needs an id and an epoch", ErrInvalidArgument)
	}
	if end := meta.GetEndKey(); len(end) > 0 && bytes.Compare(meta.GetStartKey(), end) >= 0 {
		return nil, fmt.Errorf("create region %d: %w", meta.GetId(), ErrInvalidRange)
	}
	b := eng.NewBatch()
	defer func() { _ = b.Close() }()
	if _, err := b.RegionState(meta.GetId()); !errors.Is(err, engine.ErrNotFound) {
		if err == nil {
			return nil, fmt.Errorf("create region %d: already exists", meta.GetId())
		}
		return nil, fmt.Errorf("create region %d: %w", meta.GetId(), err)
	}
	st := &flaredbv1.RegionLocalState{Region: proto.CloneOf(meta), State: flaredbv1.PeerState_PEER_STATE_NORMAL}
	ap := &flaredbv1.RegionApplyState{AppliedIndex: InitialAppliedIndex}
	if err := writeRegion(b, st, ap); err != nil {
		return nil, fmt.Errorf("create region %d: %w", meta.GetId(), err)
	}
	if err := b.Commit(); err != nil {
		return nil, fmt.Errorf("create region %d: %w", meta.GetId(), err)
	}
	return newReplica(eng, st, ap), nil
}

// Open loads a region's replica from the engine.
func Open(eng *engine.Engine, regionID uint64) (*Replica, error) {
	v := eng.NewSnapshot()
	defer func() { _ = v.Close() }()
	st, err := v.RegionState(regionID)
	if err != nil {
		return nil, fmt.Errorf("open region: %w", err)
	}
	ap, err := v.ApplyState(regionID)
	if err != nil {
		return nil, fmt.Errorf("open region: %w", err)
	}
	return newReplica(eng, st, ap), nil
}

// LoadAll opens every region in the engine that is not a tombstone, in
// region id order: what a store hosts after a restart.
func LoadAll(eng *engine.Engine) ([]*Replica, error) {
	v := eng.NewSnapshot()
	states, err := v.RegionStates()
	_ = v.Close()
	if err != nil {
		return nil, fmt.Errorf("load regions: %w", err)
	}
	var out []*Replica
	for _, st := range states {
		if st.GetState() == flaredbv1.PeerState_PEER_STATE_TOMBSTONE {
			continue
		}
		r, err := Open(eng, st.GetRegion().GetId())
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func writeRegion(b *engine.Batch, st *flaredbv1.RegionLocalState, ap *flaredbv1.RegionApplyState) error {
	if err := b.PutRegionState(st); err != nil {
		return err
	}
	return b.PutApplyState(st.GetRegion().GetId(), ap)
}

// ID returns the region id.
func (r *Replica) ID() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.state.GetRegion().GetId()
}

// Region returns a copy of the region's current metadata.
func (r *Replica) Region() *flaredbv1.Region {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return proto.CloneOf(r.state.GetRegion())
}

// PeerState returns the replica's local state.
func (r *Replica) PeerState() flaredbv1.PeerState {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.state.GetState()
}

// Applied returns the index and term of the last applied entry.
func (r *Replica) Applied() (index, term uint64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.apply.GetAppliedIndex(), r.apply.GetAppliedTerm()
}

// setState publishes new persisted state to readers.
func (r *Replica) setState(st *flaredbv1.RegionLocalState, ap *flaredbv1.RegionApplyState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.publishLocked(st, ap)
}

// publishLocked installs new state and wakes waiters; r.mu must be held.
func (r *Replica) publishLocked(st *flaredbv1.RegionLocalState, ap *flaredbv1.RegionApplyState) {
	r.state, r.apply = st, ap
	close(r.applied)
	r.applied = make(chan struct{})
}

// WaitApplied blocks until the replica has applied index (the last step of
// a ReadIndex read: wait for the local state machine to reach the leader's
// commit index) or ctx ends.
func (r *Replica) WaitApplied(ctx context.Context, index uint64) error {
	for {
		r.mu.RLock()
		done, wake := r.apply.GetAppliedIndex() >= index, r.applied
		r.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for applied index %d: %w", index, ctx.Err())
		case <-wake:
		}
	}
}
