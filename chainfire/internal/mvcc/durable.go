package mvcc

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// writeBuffer is the open bbolt write transaction that Updates share until
// it is committed (etcd's batchTx). The caller holds writeMu.
type writeBuffer struct {
	tx      *bbolt.Tx // nil when nothing is pending
	ops     int       // changes written to tx, plus one per Update
	applied uint64    // the applied index tx records
	failed  error     // non-nil once tx was lost; see ErrFailed
}

// pendLog is the records written since the last commit to disk, in
// revision order: what reads must take from memory because a bbolt read
// transaction cannot see them yet.
type pendLog []change

// base is the main revision of the oldest record in p. Every record at or
// above it that exists is in p.
func (p pendLog) base() int64 {
	if len(p) == 0 {
		return maxRev
	}
	return p[0].rev.Main
}

// maxRev is above every revision.
const maxRev = int64(^uint64(0) >> 1)

// get returns the record at rev, or nil.
func (p pendLog) get(rev Revision) *change {
	i := sort.Search(len(p), func(i int) bool { return !p[i].rev.Less(rev) })
	if i < len(p) && p[i].rev == rev {
		return &p[i]
	}
	return nil
}

// from returns the position of the first record at main revision main or
// above.
func (p pendLog) from(main int64) int {
	return sort.Search(len(p), func(i int) bool { return p[i].rev.Main >= main })
}

// DurableIndex returns the Raft index of the last Update that is on disk.
// After a crash the store reopens exactly there; the entries after it are
// the Raft log's to replay.
func (s *Store) DurableIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.durable
}

// ObserveCommit installs f, told how long each commit of the write
// transaction to disk took (etcd's backend commit duration). nil removes it.
func (s *Store) ObserveCommit(f func(time.Duration)) {
	if f == nil {
		s.observeCommit.Store(nil)
		return
	}
	s.observeCommit.Store(&f)
}

// Sync commits every applied Update to disk (fsync) before it returns.
// Raft snapshots call it: the log may be compacted behind a snapshot only
// once the state it describes is durable.
func (s *Store) Sync() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.syncLocked()
}

// syncLocked is Sync for a caller holding writeMu.
func (s *Store) syncLocked() error {
	if s.closed {
		return ErrClosed
	}
	if s.wb.failed != nil {
		return s.wb.failed
	}
	if err := s.commitLocked(); err != nil {
		s.fail(err)
		return s.wb.failed
	}
	return nil
}

// writeTx returns the open write transaction, beginning one if none is,
// and whether it was begun now (it then holds nothing else).
func (s *Store) writeTx() (*bbolt.Tx, bool, error) {
	if s.wb.tx != nil {
		return s.wb.tx, false, nil
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, false, fmt.Errorf("mvcc: begin batch: %w", err)
	}
	s.wb.tx = tx
	return tx, true, nil
}

// commitLocked commits the open write transaction, if any, with bbolt's
// fsyncs, and then drops the in-memory copies of the records it held. On
// error the transaction is gone; the caller decides whether that loses
// published batches (fail). The caller holds writeMu.
func (s *Store) commitLocked() error {
	tx := s.wb.tx
	if tx == nil {
		return nil
	}
	s.wb.tx, s.wb.ops = nil, 0
	if h := s.opts.hooks.beforeCommit; h != nil {
		if err := h(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	start := time.Now()
	if err := tx.Commit(); err != nil { // Commit rolls back by itself when it fails
		return fmt.Errorf("mvcc: commit batch at index %d: %w", s.wb.applied, err)
	}
	if f := s.observeCommit.Load(); f != nil {
		(*f)(time.Since(start))
	}
	s.mu.Lock()
	s.pend, s.durable = nil, s.wb.applied
	s.mu.Unlock()
	return nil
}

// rollbackLocked abandons the open write transaction. If it held batches
// already published, the store's memory is now ahead of its
// file for good and it fails.
func (s *Store) rollbackLocked(published bool, cause error) {
	if s.wb.tx != nil {
		_ = s.wb.tx.Rollback()
	}
	s.wb.tx, s.wb.ops = nil, 0
	if published {
		s.fail(cause)
	}
}

// fail marks the store failed; the caller holds writeMu.
func (s *Store) fail(cause error) {
	if s.wb.failed == nil {
		s.wb.failed = fmt.Errorf("%w: %v", ErrFailed, cause)
		s.log.Error("write transaction lost; store refuses writes until reopened", "err", cause)
	}
}

// flusher commits the open write transaction every BatchInterval, so an
// applied batch waits at most that long for its fsync.
type flusher struct {
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

func (f *flusher) start(s *Store) {
	f.quit, f.done = make(chan struct{}), make(chan struct{})
	if s.opts.BatchInterval < 0 {
		close(f.done) // every Update commits itself
		return
	}
	go f.run(s, s.opts.BatchInterval)
}

func (f *flusher) run(s *Store, every time.Duration) {
	defer close(f.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-f.quit:
			return
		case <-t.C:
		}
		s.writeMu.Lock()
		if !s.closed && s.wb.failed == nil && s.wb.tx != nil {
			_ = s.syncLocked() // a failure is logged and fails the store
		}
		s.writeMu.Unlock()
	}
}

func (f *flusher) stop() {
	f.once.Do(func() { close(f.quit) })
	<-f.done
}
