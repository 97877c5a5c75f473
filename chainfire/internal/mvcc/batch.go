package mvcc

import (
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// Batch is one Update: any number of etcd-level transactions (consecutive
// revisions) plus the applied Raft position, written into the store's bbolt
// write transaction. It is only valid inside the function given to Update.
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

// Update runs fn inside the store's bbolt write transaction, recording
// (index, term) as applied in that same transaction. This is how the Raft
// FSM group-commits log entries: one b.Txn per entry, each getting the next
// revision.
//
// The transaction stays open across Updates and is committed, with
// bbolt's fsyncs, every BatchInterval, once it holds BatchLimit changes,
// with a compaction (whose physical half must only ever see durable
// records), on Sync (Raft snapshots) and on Close: etcd's backend. An
// Update therefore returns, and its batch is visible to reads and watchers,
// before it is on disk; after a crash the store reopens at DurableIndex,
// data and applied index together, and the Raft log replays the rest.
// A negative BatchInterval commits every Update before it returns.
//
// Nothing becomes visible until fn has succeeded: the index, the current
// revision and the applied index are published only afterwards, under the
// store lock. If fn fails or panics, or a commit made by this Update fails,
// the error is returned and the store is exactly as before, provided the
// transaction held no earlier batch; if it did, those batches are lost from
// the file although already published, and the store fails (ErrFailed)
// until reopened.
//
// index must be above AppliedIndex (ErrStaleIndex otherwise); skipping
// entries already applied before a restart is the caller's job. Callbacks
// registered with Batch.OnCommit run after publication, in order, before
// Update returns; they must not call Update.
func (s *Store) Update(index, term uint64, fn func(b *Batch) error) (err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.checkWritable(index); err != nil {
		return err
	}
	tx, fresh, err := s.writeTx()
	if err != nil {
		return err
	}
	b := &Batch{s: s, tx: tx, ov: newOverlay(), rev: s.rev, compactRev: s.compactRev}
	done := false
	defer func() {
		if !done {
			cause := err
			if cause == nil {
				cause = errors.New("panic")
			}
			s.rollbackLocked(!fresh, fmt.Errorf("batch at index %d aborted: %w", index, cause))
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
	s.wb.applied = index
	s.wb.ops += len(b.events) + 1
	if s.mustCommit(b) {
		done = true
		if err := s.commitLocked(); err != nil {
			if !fresh {
				s.fail(err)
			}
			return err
		}
		b.publish(index, term, false)
		return nil
	}
	done = true
	b.publish(index, term, true)
	return nil
}

// checkWritable checks the store can take index. The caller holds writeMu,
// so reading the committed fields is safe.
func (s *Store) checkWritable(index uint64) error {
	switch {
	case s.closed:
		return ErrClosed
	case s.wb.failed != nil:
		return s.wb.failed
	case index <= s.applied:
		return fmt.Errorf("%w: index %d, applied %d", ErrStaleIndex, index, s.applied)
	}
	return nil
}

// mustCommit reports whether the batch b just wrote must reach the disk
// before it is published.
func (s *Store) mustCommit(b *Batch) bool {
	return s.opts.BatchInterval < 0 || s.wb.ops >= s.opts.BatchLimit || b.compacted
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

// publish makes a batch visible and starts its compaction. pending says
// the batch is not on disk yet, so reads must find its records in memory.
func (b *Batch) publish(index, term uint64, pending bool) {
	s := b.s
	var job *compactJob
	s.mu.Lock()
	b.ov.applyTo(s.index)
	s.rev, s.applied, s.term = b.rev, index, term
	if pending {
		for _, ev := range b.events {
			s.pend = append(s.pend, change{rev: ev.Rev, tomb: ev.Type == EventDelete, kv: ev.KV})
		}
	}
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

// OnCommit registers f to run after the batch is published, with
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
