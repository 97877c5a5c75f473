package apply

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/photoncloud/core/chainfire/internal/lease"
	"github.com/photoncloud/core/chainfire/internal/mvcc"
	chainfirev1 "github.com/photoncloud/core/proto/chainfire/v1"
)

// Result is what applying one command produced: the etcd response message
// or the error to return to the client.
type Result struct {
	Response proto.Message
	Err      error
}

// Applier is the raft.BatchingFSM over an MVCC store.
type Applier struct {
	store   *mvcc.Store
	members *Members
	leases  *lease.Lessor
	log     *slog.Logger

	// observers are told of every published batch and every restore (the
	// watch layer). Set before the Applier is used.
	observers []Observer

	// compactRev is the compact revision as the entry being applied sees
	// it: the store's at the start of a batch, advanced by the batch's
	// Compaction commands. Only touched inside store.Update.
	compactRev int64

	mu      sync.Mutex
	applied uint64
	advance chan struct{} // closed and replaced whenever applied grows
}

var _ raft.BatchingFSM = (*Applier)(nil)

// Option configures an Applier.
type Option func(*Applier)

// WithLeaseOptions sets the options of the Applier's lessor.
func WithLeaseOptions(opts lease.Options) Option {
	return func(a *Applier) { a.leases = lease.New(opts) }
}

// New returns an Applier over store, loading the member table and the
// leases from it.
func New(store *mvcc.Store, log *slog.Logger, opts ...Option) (*Applier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Applier{store: store, members: newMembers(), log: log, advance: make(chan struct{})}
	for _, o := range opts {
		o(a)
	}
	if a.leases == nil {
		a.leases = lease.New(lease.Options{})
	}
	// The member table and leases are read from the file: commit anything
	// applied but pending first (a no-op on a store just opened).
	if err := store.Sync(); err != nil {
		return nil, fmt.Errorf("apply: sync store: %w", err)
	}
	if err := a.members.load(store); err != nil {
		return nil, err
	}
	if err := a.leases.Load(store); err != nil {
		return nil, err
	}
	a.applied = store.AppliedIndex()
	return a, nil
}

// ObserveCommit installs a callback told how long each commit of the store
// to disk took (etcd's backend commit latency). Commits batch many applied
// entries and may run on the store's own timer.
func (a *Applier) ObserveCommit(f func(time.Duration)) { a.store.ObserveCommit(f) }

// Observer learns of the store's changes in commit order. Both methods run
// on the apply goroutine after the change is published, so they must not
// block and must not call back into the Applier or the store's Update.
type Observer interface {
	// Committed receives a batch's final revision and all its events in
	// revision order (none for a batch that changed nothing).
	Committed(rev int64, events []mvcc.Event)
	// Restored reports that the store was replaced wholesale (a Raft
	// snapshot installed) and is now at rev: incremental events are lost.
	Restored(rev int64)
}

// Observe registers o. Call it before the Applier is used.
func (a *Applier) Observe(o Observer) { a.observers = append(a.observers, o) }

// Store is the MVCC store commands are applied to.
func (a *Applier) Store() *mvcc.Store { return a.store }

// Members is the replicated table of member attributes.
func (a *Applier) Members() *Members { return a.members }

// Apply applies one entry; hashicorp/raft uses ApplyBatch instead.
func (a *Applier) Apply(l *raft.Log) any { return a.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies committed entries in one storage transaction.
func (a *Applier) ApplyBatch(logs []*raft.Log) []any {
	results := make([]any, len(logs))
	start := 0
	applied := a.store.AppliedIndex()
	for start < len(logs) && logs[start].Index <= applied {
		start++ // applied before a restart: skip, never apply twice
	}
	if start == len(logs) {
		return results
	}
	last := logs[len(logs)-1]
	err := a.store.Update(last.Index, last.Term, func(b *mvcc.Batch) error {
		a.compactRev = a.store.CompactRev()
		for _, o := range a.observers {
			b.OnCommit(o.Committed)
		}
		for i := start; i < len(logs); i++ {
			if logs[i].Type != raft.LogCommand {
				continue
			}
			if r := a.applyEntry(b, logs[i]); r != nil {
				results[i] = r // never a typed nil: Raft's future returns it as is
			}
		}
		return nil
	})
	if err != nil {
		// The store is unchanged, but Raft has committed these entries and
		// cannot skip them: stop this member; on restart the log replays
		// them. Carrying on would let this replica diverge.
		a.log.Error("apply failed; stopping to keep the replica consistent", "index", last.Index, "error", err.Error())
		panic(fmt.Sprintf("chainfire: apply of raft entries up to %d failed: %v", last.Index, err))
	}
	a.publish(last.Index)
	return results
}

func (a *Applier) applyEntry(b *mvcc.Batch, l *raft.Log) *Result {
	if len(l.Data) == 0 {
		// A new leader's first entry (see raftnode): nothing to change, but
		// the batch still records its index as applied.
		return nil
	}
	var cmd chainfirev1.RaftCommand
	if err := proto.Unmarshal(l.Data, &cmd); err != nil {
		// Every member sees the same bytes, so every member skips it alike.
		a.log.Error("undecodable raft command skipped", "index", l.Index, "error", err.Error())
		return &Result{Err: fmt.Errorf("apply: decode command at %d: %w", l.Index, err)}
	}
	resp, err := a.execute(b, &cmd)
	return &Result{Response: resp, Err: err}
}

func (a *Applier) publish(index uint64) {
	a.mu.Lock()
	if index > a.applied {
		a.applied = index
		close(a.advance)
		a.advance = make(chan struct{})
	}
	a.mu.Unlock()
}

// AppliedIndex is the last Raft index applied: reads see it, but it may not
// be on disk yet (DurableIndex).
func (a *Applier) AppliedIndex() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}

// DurableIndex is the last Raft index applied and on disk: where the state
// machine resumes after a crash, Raft replaying the entries after it.
func (a *Applier) DurableIndex() uint64 { return a.store.DurableIndex() }

// WaitApplied blocks until index has been applied or ctx ends.
func (a *Applier) WaitApplied(ctx context.Context, index uint64) error {
	for {
		a.mu.Lock()
		applied, advance := a.applied, a.advance
		a.mu.Unlock()
		if applied >= index {
			return nil
		}
		select {
		case <-advance:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Snapshot captures the store at the current applied index. Raft calls it
// on the FSM goroutine, so no apply runs concurrently; Persist streams the
// consistent copy later without blocking applies.
//
// The store commits every applied batch to disk first (mvcc.Store.Snapshot
// syncs): Raft records the snapshot at the last index it handed the FSM and
// may then compact the log up to it, and on restart
// (NoSnapshotRestoreOnStart) it re-delivers only the entries after that
// index. So the store's durable applied index must already have reached it
// here, or a crash after compaction would lose entries applied only in
// memory. (Raft's index may exceed the store's by entries the FSM never
// sees, barriers and no-ops, which change nothing.)
func (a *Applier) Snapshot() (raft.FSMSnapshot, error) {
	sn, err := a.store.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("apply: snapshot: %w", err)
	}
	return fsmSnapshot{sn}, nil
}

// Restore replaces the store with a snapshot sent by the leader.
func (a *Applier) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := a.store.Restore(rc); err != nil {
		return fmt.Errorf("apply: restore: %w", err)
	}
	if err := a.members.load(a.store); err != nil {
		return err
	}
	if err := a.leases.Load(a.store); err != nil {
		return fmt.Errorf("apply: restore leases: %w", err)
	}
	a.mu.Lock()
	a.applied = a.store.AppliedIndex()
	close(a.advance)
	a.advance = make(chan struct{})
	a.mu.Unlock()
	for _, o := range a.observers {
		o.Restored(a.store.Rev())
	}
	return nil
}

type fsmSnapshot struct{ sn *mvcc.Snapshot }

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.sn.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("apply: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() { _ = s.sn.Close() }
