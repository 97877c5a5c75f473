package mvcc

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// Options configures Open. The zero value is usable.
type Options struct {
	// Logger receives compaction progress and background errors; nil
	// discards them.
	Logger *slog.Logger
	// CompactBatchLimit is the number of revision records physical
	// compaction deletes per bbolt transaction (default 1000). Small batches
	// keep each transaction short so Updates interleave with a large
	// compaction.
	CompactBatchLimit int
	// CompactBatchInterval is a pause between compaction batches (default
	// none), to leave the disk to foreground writes.
	CompactBatchInterval time.Duration
	// InitialMmapSize is passed to bbolt. Open read transactions (a Range in
	// flight, a snapshot being streamed) make bbolt wait before it can grow
	// its mapping, so a generous size avoids write stalls; 0 means 1 GiB of
	// address space on 64-bit platforms (it costs no memory), a negative
	// value means none.
	InitialMmapSize int
	// OpenTimeout bounds the wait for bbolt's file lock (default 10s), so a
	// second process opening the same file fails instead of hanging.
	OpenTimeout time.Duration
	// BatchInterval is how long applied batches may wait in the open bbolt
	// write transaction before it is committed (fsynced): etcd's
	// --backend-batch-interval. Until then they are visible to reads and
	// recoverable only by replaying the Raft log. 0 means 100ms; a
	// negative value commits every Update before it returns.
	BatchInterval time.Duration
	// BatchLimit commits the open write transaction once it holds this
	// many changes (records plus one per Update): etcd's
	// --backend-batch-limit. 0 means 10000.
	BatchLimit int

	hooks *testHooks
}

// testHooks lets in-package tests inject failures at exact points.
type testHooks struct {
	beforeCommit      func(tx *bbolt.Tx) error // inside Update, before Commit
	afterCompactBatch func(batch int) error    // error stops compaction (a "crash")
	maxSize           int                      // bbolt MaxSize, to provoke a real commit failure
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.CompactBatchLimit <= 0 {
		o.CompactBatchLimit = 1000
	}
	if o.InitialMmapSize == 0 && bits.UintSize == 64 {
		o.InitialMmapSize = 1 << 30
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = defaultOpenTimeout
	}
	if o.BatchInterval == 0 {
		o.BatchInterval = DefaultBatchInterval
	}
	if o.BatchLimit <= 0 {
		o.BatchLimit = DefaultBatchLimit
	}
	if o.hooks == nil {
		o.hooks = &testHooks{}
	}
	return o
}

const defaultOpenTimeout = 10 * time.Second

// Defaults of Options.BatchInterval and BatchLimit, etcd's.
const (
	DefaultBatchInterval = 100 * time.Millisecond
	DefaultBatchLimit    = 10000
)

// Store is a multi-version key-value store on one bbolt file. All methods
// are safe for concurrent use.
type Store struct {
	path string
	opts Options
	log  *slog.Logger

	// writeMu serialises everything that writes the index or swaps the
	// database: Update, commits of the open write transaction, Restore,
	// Close. Holding it, a writer may read the index without mu, since
	// nobody else mutates it.
	writeMu sync.Mutex
	wb      writeBuffer // guarded by writeMu

	flush         flusher
	observeCommit atomic.Pointer[func(time.Duration)]

	// mu guards the fields below. Readers hold it shared only while they
	// consult the index and begin their bbolt read transaction; writers hold
	// it exclusively only to publish a committed batch.
	mu         sync.RWMutex
	db         *bbolt.DB
	index      *treeIndex
	rev        int64
	compactRev int64
	applied    uint64
	term       uint64
	compactor  *compactor
	closed     bool
	restoring  bool // closed only while Restore swaps the file
	// pend holds every record written since the last commit to disk, in
	// revision order, so reads see applied batches the file does not have
	// yet. Readers copy the slice header under mu; the writer only appends
	// past their length or replaces the slice, so no element they see
	// changes.
	pend    pendLog
	durable uint64 // applied index of the last commit to disk
}

// Open opens (creating if needed) the store at path and rebuilds its index
// from the key bucket. To replace the file (a Raft snapshot), Close the
// store, move the new file into place and Open again, or use Restore.
func Open(path string, opts Options) (*Store, error) {
	s := &Store{path: path, opts: opts.withDefaults()}
	s.log = s.opts.Logger.With("component", "mvcc", "path", path)
	if err := s.openDB(); err != nil {
		return nil, err
	}
	s.flush.start(s)
	return s, nil
}

// openDB opens the bbolt file, loads it and installs the result. The caller
// holds writeMu (or owns s exclusively) and s.db is not open.
func (s *Store) openDB() error {
	db, err := bbolt.Open(s.path, 0o600, &bbolt.Options{
		Timeout:         s.opts.OpenTimeout,
		NoFreelistSync:  true,
		FreelistType:    bbolt.FreelistMapType,
		InitialMmapSize: s.opts.InitialMmapSize,
		MaxSize:         s.opts.hooks.maxSize,
	})
	if err != nil {
		return fmt.Errorf("mvcc: open %s: %w", s.path, err)
	}
	st, err := load(db)
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("mvcc: load %s: %w", s.path, err)
	}
	c := newCompactor(db, st.meta.finished, s.opts, s.log)
	s.mu.Lock()
	s.db, s.index, s.rev = db, st.index, st.rev
	s.compactRev, s.applied, s.term = st.meta.scheduled, st.meta.applied, st.meta.term
	s.compactor, s.closed = c, false
	s.pend, s.durable = nil, st.meta.applied
	s.mu.Unlock()
	s.wb = writeBuffer{}
	c.start()
	if st.resume != nil {
		s.log.Info("resuming interrupted compaction",
			"rev", st.resume.rev, "finished", st.meta.finished)
		c.schedule(st.resume)
	}
	return nil
}

// Close commits the open write transaction, stops background compaction
// (it resumes on the next Open) and closes the database, waiting for
// in-flight reads. Closing twice is a no-op.
func (s *Store) Close() error {
	s.writeMu.Lock()
	err := s.closeDB()
	s.writeMu.Unlock()
	s.flush.stop()
	return err
}

// closeDB is Close without writeMu; the caller holds it. A failed store
// has nothing it may commit: its open transaction is already gone.
func (s *Store) closeDB() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	var commitErr error
	if s.wb.failed == nil {
		commitErr = s.commitLocked()
	}
	s.mu.Lock()
	s.closed = true
	db, c := s.db, s.compactor
	s.mu.Unlock()
	c.stop()
	if err := db.Close(); err != nil {
		return errors.Join(commitErr, fmt.Errorf("mvcc: close %s: %w", s.path, err))
	}
	return commitErr
}

// Rev returns the current revision (1 for an empty store).
func (s *Store) Rev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// CompactRev returns the revision of the newest compaction, -1 if none.
// Reads below it fail with ErrCompacted, even while its physical part runs.
func (s *Store) CompactRev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.compactRev
}

// AppliedIndex returns the Raft index of the last Update, which reads
// already see; DurableIndex is the part of it that is on disk.
func (s *Store) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// AppliedTerm returns the Raft term of the last committed Update.
func (s *Store) AppliedTerm() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.term
}

// Path returns the database file path.
func (s *Store) Path() string { return s.path }

// beginRead starts a bbolt read transaction; the caller holds mu shared
// (taken with rlockOpen).
func (s *Store) beginRead() (*bbolt.Tx, error) {
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("mvcc: begin read: %w", err)
	}
	return tx, nil
}

// View runs fn in a bbolt read transaction, for sibling packages that keep
// their own buckets in this file. It sees what is on disk, not batches
// applied since the last commit: load sibling state only from a store just
// opened or restored, or after Sync.
func (s *Store) View(fn func(tx *bbolt.Tx) error) error {
	if err := s.rlockOpen(); err != nil {
		return err
	}
	tx, err := s.beginRead()
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// Size returns the size of the database in bytes (bbolt's high-water mark).
func (s *Store) Size() (int64, error) {
	var n int64
	err := s.View(func(tx *bbolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n, err
}

// SizeInUse returns Size minus the pages on bbolt's freelist: the bytes a
// defragmentation could not reclaim. Pages freed by a commit become free
// once no read transaction can still see them, i.e. at a later write.
// Pending batches are committed first, so the figure covers every applied
// write; Size, which the quota check calls on every write, does not commit
// and lags by at most BatchInterval, as etcd's does.
func (s *Store) SizeInUse() (int64, error) {
	if err := s.Sync(); err != nil && !errors.Is(err, ErrFailed) {
		return 0, err
	}
	if err := s.rlockOpen(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	tx, err := s.beginRead()
	if err != nil {
		return 0, err
	}
	size := tx.Size()
	_ = tx.Rollback()
	free := int64(s.db.Stats().FreePageN) * int64(s.db.Info().PageSize)
	return size - free, nil
}
