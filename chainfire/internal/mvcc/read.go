package mvcc

import (
	"fmt"

	"go.etcd.io/bbolt"
)

// ReadTxn is a read-only view pinned at one revision: every Range in it
// answers as of Rev (etcd's read-only Txn). It is only valid inside the
// function given to Store.Read.
type ReadTxn struct {
	s    *Store
	tx   *bbolt.Tx
	pend pendLog // records the file did not have when tx began
	rev  int64
}

// Read runs fn with a ReadTxn at the current revision. The bbolt read
// transaction it holds keeps bbolt from growing its mapping and makes
// Restore and Close wait, so keep fn short, read through r rather than the
// Store, and never call Update, Restore or Close from inside it.
func (s *Store) Read(fn func(r *ReadTxn) error) error {
	if err := s.rlockOpen(); err != nil {
		return err
	}
	rev, pend := s.rev, s.pend
	tx, err := s.beginRead()
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	return fn(&ReadTxn{s: s, tx: tx, pend: pend, rev: rev})
}

// Range reads the current revision (or opts.Rev) outside any transaction.
func (s *Store) Range(key, end []byte, opts RangeOptions) (res RangeResult, err error) {
	err = s.Read(func(r *ReadTxn) error {
		res, err = r.Range(key, end, opts)
		return err
	})
	return res, err
}

// Rev returns the revision the transaction is pinned at.
func (r *ReadTxn) Rev() int64 { return r.rev }

// Tx returns the underlying bbolt read transaction, for sibling buckets.
// It sees what is on disk: sibling writes of batches applied since the last
// commit are not there (load sibling state only from a store just opened,
// restored or synced).
func (r *ReadTxn) Tx() *bbolt.Tx { return r.tx }

// Range returns the keys in [key, end) under etcd's range_end rules, as of
// opts.Rev or the pinned revision.
//
// The bbolt snapshot was taken when the store was at r.rev, so it holds
// every record the index can name at or below r.rev, unless a compaction
// above the read revision ran since; that is checked under the lock and
// reported as ErrCompacted, as etcd would.
func (r *ReadTxn) Range(key, end []byte, opts RangeOptions) (RangeResult, error) {
	s := r.s
	s.mu.RLock()
	at, err := readRev(opts.Rev, r.rev, s.compactRev)
	if err != nil {
		s.mu.RUnlock()
		return RangeResult{}, err
	}
	rg := ranger{index: s.index, at: at, limit: opts.Limit, countOnly: opts.CountOnly}
	rg.run(key, end)
	s.mu.RUnlock()
	return rg.result(r.recordsView(), r.rev, opts.KeysOnly)
}

// Changes calls fn for every change with a main revision in [from, to], in
// revision order, until fn returns false: what a watcher that fell behind
// needs to catch up. PrevKV is not filled in (Range at Rev.Main-1 gives it).
// from must be above the compact revision: changes at or below it may have
// been deleted. to <= 0 means the pinned revision.
func (r *ReadTxn) Changes(from, to int64, fn func(Event) bool) error {
	r.s.mu.RLock()
	compacted := r.s.compactRev
	r.s.mu.RUnlock()
	if to <= 0 || to > r.rev {
		to = r.rev
	}
	if from <= compacted {
		return fmt.Errorf("%w: changes from %d, compacted at %d", ErrCompacted, from, compacted)
	}
	return r.recordsView().scan(from, to, func(k, v []byte) (bool, error) {
		rev, tomb, err := parseRevKey(k)
		if err != nil {
			return false, err
		}
		ev, err := eventOf(rev, tomb, v)
		if err != nil {
			return false, err
		}
		return fn(ev), nil
	})
}

// recordsView is where this transaction finds revision records.
func (r *ReadTxn) recordsView() revRecords {
	return revRecords{b: r.tx.Bucket(keyBucket), pend: r.pend}
}

func eventOf(rev Revision, tomb bool, v []byte) (Event, error) {
	kv, err := decodeKV(v, !tomb)
	if err != nil {
		return Event{}, fmt.Errorf("record %s: %w", rev, err)
	}
	ev := Event{Type: EventPut, KV: kv, Rev: rev}
	if tomb {
		ev.Type = EventDelete
	}
	return ev, nil
}
