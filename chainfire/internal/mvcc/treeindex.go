package mvcc

import (
	"bytes"

	"github.com/google/btree"
)

// treeIndex orders keyIndexes by key. It is not safe for concurrent
// mutation; the Store guards it with its RWMutex.
type treeIndex struct {
	tree *btree.BTreeG[*keyIndex]
}

func lessKeyIndex(a, b *keyIndex) bool { return bytes.Compare(a.key, b.key) < 0 }

func newTreeIndex() *treeIndex {
	return &treeIndex{tree: btree.NewG(32, lessKeyIndex)}
}

func (ti *treeIndex) lookup(key []byte) *keyIndex {
	ki, _ := ti.tree.Get(&keyIndex{key: key})
	return ki
}

func (ti *treeIndex) getOrCreate(key []byte) *keyIndex {
	if ki := ti.lookup(key); ki != nil {
		return ki
	}
	ki := newKeyIndex(key)
	ti.tree.ReplaceOrInsert(ki)
	return ki
}

// ascend visits keyIndexes in [lo, hi) in key order (hi == nil: no upper
// bound) until fn returns false.
func (ti *treeIndex) ascend(lo, hi []byte, fn func(*keyIndex) bool) {
	if hi == nil {
		ti.tree.AscendGreaterOrEqual(&keyIndex{key: lo}, fn)
		return
	}
	ti.tree.AscendRange(&keyIndex{key: lo}, &keyIndex{key: hi}, fn)
}

// restore replays one record of the key bucket while rebuilding on Open.
func (ti *treeIndex) restore(kv *KeyValue, rev Revision, tomb bool) {
	if tomb {
		// A tombstone for a key the index does not know was left behind by
		// an interrupted compaction: its puts are gone and it is due for
		// deletion too, so it adds nothing.
		if ki := ti.lookup(kv.Key); ki != nil {
			ki.tombstone(rev)
		}
		return
	}
	ti.getOrCreate(kv.Key).put(rev, kv.CreateRevision, kv.Version)
}

// compact compacts every key at revision at, removes keys left without
// history, and returns the set of revisions <= at that must survive in the
// key bucket.
func (ti *treeIndex) compact(at int64) map[Revision]struct{} {
	keep := make(map[Revision]struct{})
	var gone []*keyIndex
	ti.tree.Ascend(func(ki *keyIndex) bool {
		if ki.compact(at, keep) {
			gone = append(gone, ki)
		}
		return true
	})
	for _, ki := range gone {
		ti.tree.Delete(ki)
	}
	return keep
}

// keyRange turns etcd's (key, range_end) into a half-open interval [lo, hi).
// An empty end selects the single key; end "\x00" means no upper bound; an
// end at or before key selects nothing (ok false).
func keyRange(key, end []byte) (lo, hi []byte, ok bool) {
	switch {
	case len(end) == 0:
		hi = make([]byte, len(key)+1)
		copy(hi, key)
		return key, hi, true
	case len(end) == 1 && end[0] == 0:
		return key, nil, true
	case bytes.Compare(key, end) >= 0:
		return nil, nil, false
	default:
		return key, end, true
	}
}
