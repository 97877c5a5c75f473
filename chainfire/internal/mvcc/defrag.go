package mvcc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
)

// defragTxMaxSize bounds each copy transaction of a defragmentation, so
// the new file is written in pieces rather than one huge transaction.
const defragTxMaxSize = 64 << 20

// Defrag rewrites the database into a fresh file holding only live pages
// and swaps it in, returning the space compaction freed to the file
// system. It runs online: reads keep being served from the old file while
// it is copied and wait (they do not fail) during the swap; writes wait
// for the whole copy, as in etcd. It first waits (within ctx) for a
// physical compaction in progress, whose deletions are what it reclaims.
func (s *Store) Defrag(ctx context.Context) error {
	if err := s.WaitCompaction(ctx, s.CompactRev()); err != nil {
		return fmt.Errorf("mvcc: defrag: wait for compaction: %w", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	closed, src := s.closed, s.db
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	// The copy reads committed pages only: commit what is pending first.
	if err := s.syncLocked(); err != nil {
		return fmt.Errorf("mvcc: defrag: %w", err)
	}
	start := time.Now()
	before, _ := fileSize(s.path)
	tmp := s.path + ".defrag"
	_ = os.Remove(tmp)
	if err := copyCompacted(tmp, src); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	s.setRestoring(true)
	defer s.setRestoring(false)
	if err := s.closeDB(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		_ = os.Remove(tmp)
		return errors.Join(fmt.Errorf("mvcc: defrag rename: %w", err), s.openDB())
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		s.log.Warn("defrag: sync directory", "err", err)
	}
	if err := s.openDB(); err != nil {
		return err
	}
	after, _ := fileSize(s.path)
	s.log.Info("defragmented", "before_bytes", before, "after_bytes", after, "took", time.Since(start))
	return nil
}

// copyCompacted writes src's live data into a new, synced file at path.
func copyCompacted(path string, src *bbolt.DB) error {
	dst, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: defaultOpenTimeout, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("mvcc: defrag: open new file: %w", err)
	}
	if err := bbolt.Compact(dst, src, defragTxMaxSize); err != nil {
		_ = dst.Close()
		return fmt.Errorf("mvcc: defrag: copy: %w", err)
	}
	if err := dst.Sync(); err != nil {
		_ = dst.Close()
		return fmt.Errorf("mvcc: defrag: sync: %w", err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("mvcc: defrag: close new file: %w", err)
	}
	return nil
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
