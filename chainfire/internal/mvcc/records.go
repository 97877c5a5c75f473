package mvcc

import (
	"fmt"

	"go.etcd.io/bbolt"
)

// revRecords is where a reader finds revision records: a bbolt key bucket,
// and, for records not yet on disk, the store's pending log as it was when
// the reader's bbolt transaction began. Every record at or above
// pend.base() is in pend; the bucket may hold some of them too (a commit
// can land between the two), and pend wins.
type revRecords struct {
	b    *bbolt.Bucket
	pend pendLog
}

// recordsView of a batch: its write transaction sees everything.
func (b *Batch) recordsView() revRecords { return revRecords{b: b.tx.Bucket(keyBucket)} }

// get returns the live record at rev.
func (src revRecords) get(rev Revision, withValue bool) (KeyValue, error) {
	if rev.Main >= src.pend.base() {
		c := src.pend.get(rev)
		if c == nil || c.tomb {
			return KeyValue{}, fmt.Errorf("%w: index points at missing record %s", ErrCorrupt, rev)
		}
		return cloneKV(&c.kv, withValue), nil
	}
	v := src.b.Get(revKey(rev, false))
	if v == nil {
		return KeyValue{}, fmt.Errorf("%w: index points at missing record %s", ErrCorrupt, rev)
	}
	kv, err := decodeKV(v, withValue)
	if err != nil {
		return KeyValue{}, fmt.Errorf("record %s: %w", rev, err)
	}
	return kv, nil
}

// scan calls fn with the key bucket's key and value of every record with a
// main revision in [from, to], in revision order, until fn returns false.
// Pending records are encoded exactly as the commit will write them, so
// hashes and history read the same before and after it.
func (src revRecords) scan(from, to int64, fn func(k, v []byte) (bool, error)) error {
	base := src.pend.base()
	c := src.b.Cursor()
	for k, v := c.Seek(seekKey(from)); k != nil; k, v = c.Next() {
		rev, _, err := parseRevKey(k)
		if err != nil {
			return err
		}
		if rev.Main > to || rev.Main >= base {
			break
		}
		if more, err := fn(k, v); err != nil || !more {
			return err
		}
	}
	for i := src.pend.from(max(from, base)); i < len(src.pend); i++ {
		r := &src.pend[i]
		if r.rev.Main > to {
			return nil
		}
		if more, err := fn(revKey(r.rev, r.tomb), encodeKV(&r.kv)); err != nil || !more {
			return err
		}
	}
	return nil
}
