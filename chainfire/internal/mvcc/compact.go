package mvcc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// Compaction has two halves.
//
// The logical half runs when the Update carrying Batch.Compact commits: the
// compact revision is persisted as "scheduled" in that same bbolt
// transaction, and then, under the store lock, the index drops the history
// and yields the keep set (for every key, its newest revision <= the compact
// revision, unless that is a tombstone). From then on reads below the compact
// revision fail, so nobody can observe the records about to be deleted.
//
// The physical half runs on a background goroutine: it walks the key bucket
// up to the compact revision in ascending order and deletes every record not
// in the keep set, CompactBatchLimit per bbolt transaction, and writes
// "finished" with the last batch. Tombstones at exactly the compact revision
// are spared too, as etcd (3.6 and later) spares them: with the puts there,
// which the keep set always holds, they are the complete set of changes at
// that revision, which a watch starting at it replays (WatchChanges). The
// index no longer knows them, so they are invisible to reads, left out of
// HashKV (it covers revisions above the compact revision) and deleted by the
// next compaction. If the process stops in between, Open sees
// scheduled > finished and starts over. Restarting is correct because
// deletion runs in ascending order: any record already deleted was older
// than its key's kept revision, or was a tombstone whose older records went
// before it, so the index rebuilt from the partial bucket compacts to the
// same keep set.

// compactJob is one physical compaction.
type compactJob struct {
	rev  int64
	keep map[Revision]struct{} // read-only once built
}

// spares reports whether the record at rev survives the job: it is in the
// keep set, or it is a tombstone at the compact revision itself.
func (j *compactJob) spares(rev Revision, tomb bool) bool {
	if _, ok := j.keep[rev]; ok {
		return true
	}
	return tomb && rev.Main == j.rev
}

// WatchChanges is Changes for a watch: from may also be the compact
// revision itself, as in etcd, whose watch refuses only a start below it.
// Compaction keeps every change at that revision (see spares), so they are
// all there, whether or not its physical half has run.
func (r *ReadTxn) WatchChanges(from, to int64, fn func(Event) bool) error {
	r.s.mu.RLock()
	compacted := r.s.compactRev
	r.s.mu.RUnlock()
	if from != compacted || from <= 0 {
		return r.Changes(from, to, fn)
	}
	if to <= 0 || to > r.rev {
		to = r.rev
	}
	if from > to {
		return nil
	}
	more, err := r.changesAt(from, fn)
	if err != nil || !more || from == to {
		return err
	}
	// A compaction since the check above makes this fail with
	// ErrCompacted, as it should.
	return r.Changes(from+1, to, fn)
}

// changesAt calls fn for every change at main revision rev, on disk or
// still pending, reporting false if fn stopped early.
func (r *ReadTxn) changesAt(rev int64, fn func(Event) bool) (bool, error) {
	more := true
	err := r.recordsView().scan(rev, rev, func(k, v []byte) (bool, error) {
		at, tomb, err := parseRevKey(k)
		if err != nil {
			return false, err
		}
		ev, err := eventOf(at, tomb, v)
		if err != nil {
			return false, err
		}
		more = fn(ev)
		return more, nil
	})
	return more, err
}

// compactor owns the physical half for one open bbolt file.
type compactor struct {
	db   *bbolt.DB
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	pending  *compactJob   // newest job not yet started
	finished int64         // newest compact revision fully deleted
	progress chan struct{} // closed and replaced whenever finished moves or the runner stops
	stopped  bool

	wake chan struct{}
	quit chan struct{} // closed by stop
	done chan struct{} // closed when the runner exits
}

func newCompactor(db *bbolt.DB, finished int64, opts Options, log *slog.Logger) *compactor {
	return &compactor{
		db: db, opts: opts, log: log,
		finished: finished,
		progress: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
}

func (c *compactor) start() { go c.run() }

// stop cancels the runner, waits for it and wakes every waiter.
func (c *compactor) stop() {
	close(c.quit)
	<-c.done
	c.mu.Lock()
	c.stopped = true
	c.notifyLocked()
	c.mu.Unlock()
}

// schedule queues job. A newer job supersedes an older pending one: its
// deletions are a superset (a record that is the newest <= a later compact
// revision is also the newest <= an earlier one).
func (c *compactor) schedule(job *compactJob) {
	c.mu.Lock()
	c.pending = job
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *compactor) take() *compactJob {
	c.mu.Lock()
	defer c.mu.Unlock()
	job := c.pending
	c.pending = nil
	return job
}

func (c *compactor) hasPending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending != nil
}

func (c *compactor) notifyLocked() {
	close(c.progress)
	c.progress = make(chan struct{})
}

func (c *compactor) run() {
	defer close(c.done)
	for {
		select {
		case <-c.quit:
			return
		case <-c.wake:
		}
		for job := c.take(); job != nil; job = c.take() {
			err := c.process(job)
			switch {
			case err == nil:
			case errors.Is(err, errStopping), errors.Is(err, errHookStop):
				return
			default:
				// A failed batch changed nothing; retry later unless a
				// newer job replaced this one meanwhile.
				c.log.Error("compaction batch failed; retrying", "rev", job.rev, "err", err)
				c.requeue(job)
				if c.sleep(retryDelay) != nil {
					return
				}
			}
		}
	}
}

// retryDelay spaces out retries of a failing compaction batch.
const retryDelay = time.Second

// errStopping aborts a compaction because the store is closing.
var errStopping = errors.New("compactor stopping")

// errHookStop makes the runner exit as if the process had died.
var errHookStop = errors.New("compaction stopped by test hook")

func (c *compactor) requeue(job *compactJob) {
	c.mu.Lock()
	if c.pending == nil {
		c.pending = job
	}
	c.mu.Unlock()
}

// process deletes job's garbage batch by batch. It returns early, without
// error, when a newer job is pending; that job covers this one's work.
func (c *compactor) process(job *compactJob) error {
	start := time.Now()
	pos := seekKey(0)
	deleted := 0
	for batch := 1; ; batch++ {
		if c.stopping() {
			return errStopping
		}
		if c.hasPending() {
			return nil
		}
		next, n, err := c.deleteBatch(job, pos)
		if err != nil {
			return err
		}
		deleted += n
		if h := c.opts.hooks.afterCompactBatch; h != nil && h(batch) != nil {
			return errHookStop
		}
		if next == nil {
			c.setFinished(job.rev)
			c.log.Info("compaction finished", "rev", job.rev, "deleted", deleted,
				"batches", batch, "took", time.Since(start))
			return nil
		}
		pos = next
		if err := c.sleep(c.opts.CompactBatchInterval); err != nil {
			return err
		}
	}
}

// sleep waits d, or returns early with an error when the runner stops.
func (c *compactor) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.quit:
		return errStopping
	case <-t.C:
		return nil
	}
}

func (c *compactor) stopping() bool {
	select {
	case <-c.quit:
		return true
	default:
		return false
	}
}

// deleteBatch deletes up to CompactBatchLimit garbage records at or after
// pos in one transaction. It returns where the next batch starts, or nil
// when it reached the compact revision, in which case the same transaction
// records the compaction as finished.
func (c *compactor) deleteBatch(job *compactJob, pos []byte) (next []byte, n int, err error) {
	limit := c.opts.CompactBatchLimit
	// Kept records cost a visit but no write; bounding visits too keeps a
	// transaction short when most of the range survives.
	maxVisits := 10 * limit
	err = c.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(keyBucket)
		var garbage [][]byte
		visits := 0
		cur := b.Cursor()
		k, _ := cur.Seek(pos)
		for ; k != nil; k, _ = cur.Next() {
			rev, tomb, err := parseRevKey(k)
			if err != nil {
				return err
			}
			if rev.Main > job.rev {
				k = nil
				break
			}
			if len(garbage) >= limit || visits >= maxVisits {
				break
			}
			visits++
			if !job.spares(rev, tomb) {
				garbage = append(garbage, bytes.Clone(k))
			}
		}
		if k != nil {
			next = bytes.Clone(k)
		}
		// Deleting through the bucket, not the cursor: bbolt's cursor
		// skips an element after Cursor.Delete.
		for _, g := range garbage {
			if err := b.Delete(g); err != nil {
				return fmt.Errorf("delete %x: %w", g, err)
			}
		}
		n = len(garbage)
		if next == nil {
			return putMeta(tx, metaFinishedCompact, uint64(job.rev))
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("mvcc: compaction batch at %x: %w", pos, err)
	}
	return next, n, nil
}

func (c *compactor) setFinished(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev > c.finished {
		c.finished = rev
		c.notifyLocked()
	}
}

// waitFinished blocks until the physical part of compaction rev is done.
func (c *compactor) waitFinished(ctx context.Context, rev int64) error {
	for {
		c.mu.Lock()
		done, stopped, ch := c.finished >= rev, c.stopped, c.progress
		c.mu.Unlock()
		switch {
		case done:
			return nil
		case stopped:
			return errCompactorStopped
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

var errCompactorStopped = errors.New("compactor stopped")

// WaitCompaction blocks until the physical part of the compaction at rev
// (or a later one) has deleted its records — etcd's "physical" compaction
// flag. It returns ErrClosed if the store closes first. Across Restore it
// keeps waiting on the restored file.
func (s *Store) WaitCompaction(ctx context.Context, rev int64) error {
	for {
		s.mu.RLock()
		c, closed := s.compactor, s.closed
		s.mu.RUnlock()
		if closed {
			return ErrClosed
		}
		err := c.waitFinished(ctx, rev)
		if !errors.Is(err, errCompactorStopped) {
			return err
		}
		// Stopped by Close or by Restore swapping the file. Both hold
		// writeMu until the swap is complete; wait for that, then look again.
		s.writeMu.Lock()
		s.writeMu.Unlock() //nolint:staticcheck // empty section is a barrier
		s.mu.RLock()
		same := s.compactor == c
		s.mu.RUnlock()
		if same {
			return ErrClosed
		}
	}
}
