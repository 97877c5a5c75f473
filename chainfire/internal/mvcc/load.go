package mvcc

import (
	"fmt"

	"go.etcd.io/bbolt"
)

// loaded is the state reconstructed from a database file.
type loaded struct {
	index  *treeIndex
	meta   meta
	rev    int64
	resume *compactJob // non-nil if a compaction's physical part is unfinished
}

// load rebuilds the in-memory state from db. The key bucket is the only
// source of truth for the index: replaying it in revision order (bbolt's
// key order) recreates every generation. The current revision is the larger
// of the persisted one and the newest record, because compaction may have
// deleted the newest records (tombstones) while the revision stays.
func load(db *bbolt.DB) (*loaded, error) {
	if err := db.Update(createBuckets); err != nil {
		return nil, err
	}
	st := &loaded{index: newTreeIndex()}
	var newest int64
	err := db.View(func(tx *bbolt.Tx) error {
		m, err := readMeta(tx)
		if err != nil {
			return err
		}
		st.meta = m
		c := tx.Bucket(keyBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			rev, tomb, err := parseRevKey(k)
			if err != nil {
				return err
			}
			kv, err := decodeKV(v, false)
			if err != nil {
				return fmt.Errorf("record %s: %w", rev, err)
			}
			st.index.restore(&kv, rev, tomb)
			newest = rev.Main
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	st.rev = max(st.meta.rev, newest, 1)
	if st.meta.scheduled != noCompaction {
		// Idempotent when the physical part finished; otherwise it drops the
		// history the interrupted compaction had not yet deleted and yields
		// the same keep set as the original run (see compact.go).
		keep := st.index.compact(st.meta.scheduled)
		if st.meta.scheduled > st.meta.finished {
			st.resume = &compactJob{rev: st.meta.scheduled, keep: keep}
		}
	}
	return st, nil
}
