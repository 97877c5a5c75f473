package mvcc

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"
)

// Bucket names. Sibling packages keep their own buckets in the same file.
var (
	keyBucket  = []byte("key")
	metaBucket = []byte("meta")
)

// Meta keys. Every value is an 8-byte big-endian integer.
var (
	metaAppliedIndex     = []byte("consistent_index")
	metaAppliedTerm      = []byte("term")
	metaCurrentRev       = []byte("current_rev")
	metaScheduledCompact = []byte("scheduled_compact_rev")
	metaFinishedCompact  = []byte("finished_compact_rev")
)

// noCompaction is the compact revision of a store never compacted; etcd
// reports -1 there too.
const noCompaction int64 = -1

// meta is the persisted state beside the key bucket.
type meta struct {
	applied   uint64
	term      uint64
	rev       int64
	scheduled int64 // newest compaction decided (logical)
	finished  int64 // newest compaction whose deletions all committed
}

func createBuckets(tx *bbolt.Tx) error {
	for _, name := range [][]byte{keyBucket, metaBucket} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("mvcc: create bucket %q: %w", name, err)
		}
	}
	return nil
}

func readMeta(tx *bbolt.Tx) (meta, error) {
	b := tx.Bucket(metaBucket)
	if b == nil {
		return meta{}, fmt.Errorf("%w: no %q bucket", ErrCorrupt, metaBucket)
	}
	m := meta{scheduled: noCompaction, finished: noCompaction}
	fields := []struct {
		key []byte
		set func(uint64)
	}{
		{metaAppliedIndex, func(v uint64) { m.applied = v }},
		{metaAppliedTerm, func(v uint64) { m.term = v }},
		{metaCurrentRev, func(v uint64) { m.rev = int64(v) }},
		{metaScheduledCompact, func(v uint64) { m.scheduled = int64(v) }},
		{metaFinishedCompact, func(v uint64) { m.finished = int64(v) }},
	}
	for _, f := range fields {
		v := b.Get(f.key)
		if v == nil {
			continue
		}
		if len(v) != 8 {
			return meta{}, fmt.Errorf("%w: meta %q has %d bytes", ErrCorrupt, f.key, len(v))
		}
		f.set(binary.BigEndian.Uint64(v))
	}
	return m, nil
}

func putMeta(tx *bbolt.Tx, key []byte, v uint64) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], v)
	if err := tx.Bucket(metaBucket).Put(key, buf[:]); err != nil {
		return fmt.Errorf("mvcc: write meta %q: %w", key, err)
	}
	return nil
}
