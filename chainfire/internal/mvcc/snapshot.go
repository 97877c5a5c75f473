package mvcc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/bbolt"
)

// Snapshot is a consistent, point-in-time copy of the whole database file
// (every bucket, siblings' included), for Raft snapshots. Take it where the
// FSM is quiescent and stream it later: the Raft library persists snapshots
// concurrently with new applies. Close it when done: while open it pins a
// bbolt read transaction.
type Snapshot struct {
	tx   *bbolt.Tx
	meta meta
}

// Snapshot commits every applied batch to disk (Sync) and pins the
// resulting database state, so the snapshot holds exactly what AppliedIndex
// says and that state is durable before the caller (Raft) may drop log
// entries behind it.
func (s *Store) Snapshot() (*Snapshot, error) {
	tx, err := s.syncAndPin()
	if err != nil {
		return nil, err
	}
	m, err := readMeta(tx)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return &Snapshot{tx: tx, meta: m}, nil
}

// AppliedIndex is the Raft index contained in the snapshot.
func (sn *Snapshot) AppliedIndex() uint64 { return sn.meta.applied }

// AppliedTerm is the Raft term contained in the snapshot.
func (sn *Snapshot) AppliedTerm() uint64 { return sn.meta.term }

// Size is the number of bytes WriteTo writes.
func (sn *Snapshot) Size() int64 { return sn.tx.Size() }

// WriteTo streams the database file.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := sn.tx.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("mvcc: write snapshot: %w", err)
	}
	return n, nil
}

// Close releases the snapshot.
func (sn *Snapshot) Close() error {
	if err := sn.tx.Rollback(); err != nil && !errors.Is(err, bbolt.ErrTxClosed) {
		return fmt.Errorf("mvcc: close snapshot: %w", err)
	}
	return nil
}

// syncAndPin commits the write transaction and begins a read transaction
// with no Update in between.
func (s *Store) syncAndPin() (*bbolt.Tx, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.syncLocked(); err != nil {
		return nil, fmt.Errorf("mvcc: snapshot: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.beginRead()
}

// WriteSnapshot streams a consistent copy of the database file to w.
func (s *Store) WriteSnapshot(w io.Writer) (int64, error) {
	sn, err := s.Snapshot()
	if err != nil {
		return 0, err
	}
	defer func() { _ = sn.Close() }()
	return sn.WriteTo(w)
}

// Restore replaces the database with a file streamed by WriteSnapshot and
// reloads everything from it. The stream is written to a temporary file
// beside the database, synced and checked before the old file is touched;
// reads wait (they do not fail) while the files are swapped. If reopening
// fails the store is left closed and every call returns ErrClosed.
func (s *Store) Restore(r io.Reader) error {
	tmp := s.path + ".restore"
	if err := writeSynced(tmp, r); err != nil {
		return err
	}
	if err := checkDBFile(tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		_ = os.Remove(tmp)
		return ErrClosed
	}
	s.setRestoring(true)
	defer s.setRestoring(false)
	// Commit what is pending first, so that if the swap fails the reopened
	// old file still has everything already applied. If that commit fails
	// the store has failed and the snapshot replaces its state anyway.
	if err := s.syncLocked(); err != nil {
		s.log.Warn("restore: commit pending batches", "err", err)
	}
	if err := s.closeDB(); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		reopenErr := s.openDB()
		return errors.Join(fmt.Errorf("mvcc: restore rename: %w", err), reopenErr)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		s.log.Warn("restore: sync directory", "err", err)
	}
	return s.openDB()
}

func (s *Store) setRestoring(v bool) {
	s.mu.Lock()
	s.restoring = v
	s.mu.Unlock()
}

// rlockOpen takes mu shared on an open store. During a Restore it waits for
// the swap (Restore holds writeMu throughout) instead of failing.
func (s *Store) rlockOpen() error {
	for {
		s.mu.RLock()
		if !s.closed {
			return nil
		}
		restoring := s.restoring
		s.mu.RUnlock()
		if !restoring {
			return ErrClosed
		}
		s.writeMu.Lock()
		s.writeMu.Unlock() //nolint:staticcheck // empty section is a barrier
	}
}

func writeSynced(path string, r io.Reader) (err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("mvcc: restore: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("mvcc: restore: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("mvcc: restore: copy snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("mvcc: restore: sync: %w", err)
	}
	return nil
}

// checkDBFile opens path read-only and verifies it is a store database.
func checkDBFile(path string) error {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: defaultOpenTimeout})
	if err != nil {
		return fmt.Errorf("mvcc: restore: open snapshot: %w", err)
	}
	defer func() { _ = db.Close() }()
	err = db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(keyBucket) == nil {
			return fmt.Errorf("%w: snapshot has no %q bucket", ErrCorrupt, keyBucket)
		}
		_, err := readMeta(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("mvcc: restore: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}
