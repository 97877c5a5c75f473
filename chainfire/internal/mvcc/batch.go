package mvcc

import (
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// Batch is one bbolt read-write transaction holding any number of etcd-level
// transactions (consecutive revisions) plus the applied Raft position. It is
// only valid inside the function given to Update.
type Batch struct {
	s  *Store
	tx *bbolt.Tx
	ov *overlay

	rev        int64 // revision after the last successful Txn
	compactRev int64 // committed compact revision, or one scheduled here
	compacted  bool  // Compact was called

	events   []Event
	onCommit []func(rev int64, events []Event)
	inTxn    bool
	err      error // a failed bbolt write poisons the batch
}

// Update runs fn inside one bbolt read-write transaction and commits it with
// a single fsync, recording (index, term) as applied in that same
// transaction. This is how the Raft FSM group-commits log entries: one
// b.Txn per entry, each getting the next revision.
//
// Nothing becomes visible until the commit succeeds: the index, the current
// revision and the applied index are published only afterwards, under the
// store lock. If fn fails, the commit fails or fn panics, the store is
// exactly as before and the error is returned.
//
// index must be above AppliedIndex (ErrStaleIndex otherwise); skipping
// entries already applied before a restart is the caller's job. Callbacks
// registered with Batch.OnCommit run after publication, in order, before
// Update returns; they must not call Update.
func (s *Store) Update(index, term uint64, fn func(b *Batch) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	b, err := s.beginBatch(index)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			_ = b.tx.Rollback()
		}
	}()
	if err := fn(b); err != nil {
		return err
	}
	if b.err != nil {
		return b.err
	}
	if err := b.writeMeta(index, term); err != nil {
		return err
	}
	if h := s.opts.hooks.beforeCommit; h != nil {
		if err := h(b.tx); err != nil {
			return err
		}
	}
	committed = true // Commit rolls back by itself when it fails
	if err := b.tx.Commit(); err != nil {
		return fmt.Errorf("mvcc: commit batch at index %d: %w", index, err)
	}
	b.publish(index, term)
	return nil
}

// beginBatch checks the store can take index and opens the transaction.
// The caller holds writeMu, so reading the committed fields is safe.
func (s *Store) beginBatch(index uint64) (*Batch, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if index <= s.applied {
		return nil, fmt.Errorf("%w: index %d, applied %d", ErrStaleIndex, index, s.applied)
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, fmt.Errorf("mvcc: begin batch: %w", err)
	}
	return &Batch{s: s, tx: tx, ov: newOverlay(), rev: s.rev, compactRev: s.compactRev}, nil
}

func (b *Batch) writeMeta(index, term uint64) error {
	if err := putMeta(b.tx, metaAppliedIndex, index); err != nil {
		return err
	}
	if err := putMeta(b.tx, metaAppliedTerm, term); err != nil {
		return err
	}
	if err := putMeta(b.tx, metaCurrentRev, uint64(b.rev)); err != nil {
		return err
	}
	if b.compacted {
		return putMeta(b.tx, metaScheduledCompact, uint64(b.compactRev))
	}
	return nil
}

// publish makes a committed batch visible and starts its compaction.
func (b *Batch) publish(index, term uint64) {
	s := b.s
	var job *compactJob
	s.mu.Lock()
	b.ov.applyTo(s.index)
	s.rev, s.applied, s.term = b.rev, index, term
	if b.compacted {
		s.compactRev = b.compactRev
		job = &compactJob{rev: b.compactRev, keep: s.index.compact(b.compactRev)}
	}
	c := s.compactor
	s.mu.Unlock()
	if job != nil {
		c.schedule(job)
	}
	for _, f := range b.onCommit {
		f(b.rev, b.events)
	}
}

// Tx returns the bbolt transaction, so sibling packages (leases, membership)
// write their own buckets atomically with this batch.
func (b *Batch) Tx() *bbolt.Tx { return b.tx }

// Rev returns the revision after the batch's last successful Txn.
func (b *Batch) Rev() int64 { return b.rev }

// Events returns the events of the batch's successful Txns so far.
func (b *Batch) Events() []Event { return b.events }

// OnCommit registers f to run after the batch commits and is published, with
// the final revision and every event of the batch in revision order. It does
// not run if the batch fails.
func (b *Batch) OnCommit(f func(rev int64, events []Event)) {
	b.onCommit = append(b.onCommit, f)
}

var errNested = errors.New("mvcc: batch method called inside Txn")

// Txn runs fn as one etcd transaction. If it changes anything it gets the
// next revision, one sub revision per change; reads inside see the batch's
// earlier writes. If fn returns an error its changes are discarded (the
// revision is not used) and the batch stays usable; writes fn made directly
// through Tx() are not undone.
func (b *Batch) Txn(fn func(tx *WriteTxn) error) (TxnResult, error) {
	if b.err != nil {
		return TxnResult{Rev: b.rev}, b.err
	}
	if b.inTxn {
		return TxnResult{Rev: b.rev}, errNested
	}
	t := &WriteTxn{b: b, rev: b.rev + 1}
	b.inTxn = true
	err := fn(t)
	b.inTxn = false
	if err != nil {
		t.undo()
		return TxnResult{Rev: b.rev}, err
	}
	if len(t.log) == 0 {
		return TxnResult{Rev: b.rev}, nil
	}
	if err := t.flush(); err != nil {
		b.err = err
		return TxnResult{Rev: b.rev}, err
	}
	b.rev = t.rev
	b.events = append(b.events, t.events...)
	return TxnResult{Rev: b.rev, Events: t.events}, nil
}

// Compact schedules a compaction at rev as part of this batch, so it is
// applied exactly once with the Raft entry that carries it. Reads in later
// Txns of the batch already see it. Compact at or below the compact
// revision fails with ErrCompacted, above the current revision with
// ErrFutureRev; use Store.WaitCompaction for the physical part.
func (b *Batch) Compact(rev int64) error {
	switch {
	case b.inTxn:
		return errNested
	case rev <= b.compactRev:
		return fmt.Errorf("%w: compact at %d, already compacted at %d", ErrCompacted, rev, b.compactRev)
	case rev > b.rev:
		return fmt.Errorf("%w: compact at %d, current %d", ErrFutureRev, rev, b.rev)
	}
	b.compactRev, b.compacted = rev, true
	return nil
}
