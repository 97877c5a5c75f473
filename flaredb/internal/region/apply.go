package region

import (
	"fmt"

	"github.com/photoncloud/core/flaredb/internal/engine"
	flaredbv1 "github.com/photoncloud/core/proto/flaredb/v1"
)

// Entry is one committed Raft log entry for the region.
type Entry struct {
	Index   uint64
	Term    uint64
	Command *flaredbv1.RaftCommand
}

// Result is the outcome of applying one entry. It is what the region's Raft
// FSM hands back to the proposer.
type Result struct {
	Index uint64
	// Skipped: the entry was at or below the applied index (a replay after
	// a restart) and nothing was done.
	Skipped bool
	// Err: the command was rejected and wrote nothing. A region error
	// (*Error, see AsRegionError) or an ErrInvalidArgument.
	Err error
	// CAS is set for an applied compare-and-swap.
	CAS *CASResult
	// Split is set for an applied split.
	Split *SplitResult
	// Region is the new metadata after an applied change peer.
	Region *flaredbv1.Region
}

// CASResult is the outcome of a compare-and-swap.
type CASResult struct {
	Succeeded         bool
	PreviousValue     []byte
	PreviousNotExists bool
}

// Apply applies one committed entry. The returned error is an engine
// failure, after which the replica must not apply further entries (the
// store should stop the region); command rejections are in Result.Err.
func (r *Replica) Apply(index, term uint64, cmd *flaredbv1.RaftCommand) (Result, error) {
	res, err := r.ApplyBatch([]Entry{{Index: index, Term: term, Command: cmd}})
	if err != nil {
		return Result{}, err
	}
	return res[0], nil
}

// ApplyBatch applies consecutive committed entries in one engine batch and
// one fsync, returning one Result per entry. Later entries see the effects
// of earlier ones, including a split's new range.
func (r *Replica) ApplyBatch(entries []Entry) ([]Result, error) {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()

	r.mu.RLock()
	a := &applier{state: r.state, apply: r.apply}
	r.mu.RUnlock()

	b := r.eng.NewBatch()
	defer func() { _ = b.Close() }()
	results := make([]Result, len(entries))
	for i, e := range entries {
		res, err := a.applyEntry(b, e)
		if err != nil {
			return nil, fmt.Errorf("apply region %d index %d: %w", a.regionID(), e.Index, err)
		}
		results[i] = res
	}
	if err := r.commit(b, a); err != nil {
		return nil, fmt.Errorf("apply region %d: %w", a.regionID(), err)
	}
	return results, nil
}

// commit persists the applier's state with its batch and publishes it. A
// batch that changed the region's range or peers is committed under the
// write lock, so no reader checks an epoch against the old state while
// reading data committed under the new one; plain data batches do not block
// readers for the fsync.
func (r *Replica) commit(b *engine.Batch, a *applier) error {
	if !a.advanced {
		return nil
	}
	if err := b.PutApplyState(a.regionID(), a.apply); err != nil {
		return err
	}
	if a.metaChanged {
		if err := b.PutRegionState(a.state); err != nil {
			return err
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := b.Commit(); err != nil {
			return err
		}
		r.publishLocked(a.state, a.apply)
		return nil
	}
	// Data only: the Raft log can replay it, so the engine may skip the
	// fsync (engine.Options.ApplyNoSync). Range and peer changes above
	// stay synced: the store acts on them (child groups, PD reports).
	if err := b.CommitApply(); err != nil {
		return err
	}
	r.setState(a.state, a.apply)
	return nil
}

// applier carries a region's state through one batch. state and apply are
// treated as immutable: changes replace them, so the replica's published
// copies are never modified in place.
type applier struct {
	state       *flaredbv1.RegionLocalState
	apply       *flaredbv1.RegionApplyState
	advanced    bool
	metaChanged bool
}

func (a *applier) regionID() uint64 { return a.state.GetRegion().GetId() }

func (a *applier) applyEntry(b *engine.Batch, e Entry) (Result, error) {
	res := Result{Index: e.Index}
	if e.Index <= a.apply.GetAppliedIndex() {
		res.Skipped = true
		return res, nil
	}
	a.apply = &flaredbv1.RegionApplyState{AppliedIndex: e.Index, AppliedTerm: e.Term}
	a.advanced = true
	if err := checkCommand(a.state, e.Command); err != nil {
		res.Err = err
		return res, nil
	}
	var err error
	switch c := e.Command.GetCommand().(type) {
	case *flaredbv1.RaftCommand_Write:
		err = writeBatch(b, a.state.GetRegion(), c.Write)
	case *flaredbv1.RaftCommand_Cas:
		res.CAS, err = applyCAS(b, c.Cas)
	case *flaredbv1.RaftCommand_Split:
		res.Split, err = a.applySplit(b, c.Split)
	case *flaredbv1.RaftCommand_ChangePeer:
		res.Region = a.applyChangePeer(c.ChangePeer)
	}
	return res, err
}

// CheckCommand validates a command against the region's current state
// without applying it: the proposer calls it to reject bad commands before
// they reach the log. Apply runs the same checks again.
func (r *Replica) CheckCommand(cmd *flaredbv1.RaftCommand) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return checkCommand(r.state, cmd)
}

// checkCommand decides whether cmd may be applied to the region in st. It
// never reads the engine, so it is deterministic on every replica.
func checkCommand(st *flaredbv1.RegionLocalState, cmd *flaredbv1.RaftCommand) error {
	region := st.GetRegion()
	h := cmd.GetHeader()
	if h == nil {
		return fmt.Errorf("%w: missing header", ErrInvalidCommand)
	}
	if h.GetRegionId() != region.GetId() || st.GetState() != flaredbv1.PeerState_PEER_STATE_NORMAL {
		return errRegionNotFound(h.GetRegionId())
	}
	switch c := cmd.GetCommand().(type) {
	case *flaredbv1.RaftCommand_Write:
		return firstErr(checkEpoch(region, h.GetEpoch(), checkVersion), func() error { return checkWriteBatch(region, c.Write) })
	case *flaredbv1.RaftCommand_Cas:
		return firstErr(checkEpoch(region, h.GetEpoch(), checkVersion), func() error { return checkCAS(region, c.Cas) })
	case *flaredbv1.RaftCommand_Split:
		return firstErr(checkEpoch(region, h.GetEpoch(), checkAll), func() error { return checkSplit(region, c.Split) })
	case *flaredbv1.RaftCommand_ChangePeer:
		return firstErr(checkEpoch(region, h.GetEpoch(), checkAll), func() error { return checkChangePeer(region, c.ChangePeer) })
	default:
		return fmt.Errorf("%w: no command", ErrInvalidCommand)
	}
}

// firstErr returns err, or next() when err is nil.
func firstErr(err error, next func() error) error {
	if err != nil {
		return err
	}
	return next()
}
