package mvcc

import (
	"bytes"

	"github.com/google/btree"
)

// change is one uncommitted write of a batch.
type change struct {
	rev  Revision
	tomb bool
	kv   KeyValue // the new version; for a tombstone only Key and ModRevision
}

// pendingKey holds the uncommitted changes to one key, oldest first. All of
// them are newer than anything in the committed index.
type pendingKey struct {
	key     []byte
	changes []change
}

// at returns the newest change at or before main revision at, or nil if the
// batch had not touched the key by then.
func (pk *pendingKey) at(at int64) *change {
	for i := len(pk.changes) - 1; i >= 0; i-- {
		if pk.changes[i].rev.Main <= at {
			return &pk.changes[i]
		}
	}
	return nil
}

// overlay is a batch's view of its own writes. The committed index is left
// untouched until bbolt commits, so a failed commit needs no undo there;
// reads inside the batch merge the overlay over the index.
type overlay struct {
	tree *btree.BTreeG[*pendingKey]
}

func newOverlay() *overlay {
	return &overlay{tree: btree.NewG(8, func(a, b *pendingKey) bool {
		return bytes.Compare(a.key, b.key) < 0
	})}
}

func (o *overlay) lookup(key []byte) *pendingKey {
	pk, _ := o.tree.Get(&pendingKey{key: key})
	return pk
}

// add appends c to its key, creating the entry if needed, and reports
// whether it did so (for undo).
func (o *overlay) add(c change) (pk *pendingKey, created bool) {
	pk = o.lookup(c.kv.Key)
	if pk == nil {
		pk = &pendingKey{key: c.kv.Key}
		o.tree.ReplaceOrInsert(pk)
		created = true
	}
	pk.changes = append(pk.changes, c)
	return pk, created
}

// removeLast undoes the newest change of pk.
func (o *overlay) removeLast(pk *pendingKey, created bool) {
	pk.changes = pk.changes[:len(pk.changes)-1]
	if created {
		o.tree.Delete(pk)
	}
}

// within returns the touched keys in [lo, hi) (hi nil: unbounded) in order.
func (o *overlay) within(lo, hi []byte) []*pendingKey {
	var out []*pendingKey
	collect := func(pk *pendingKey) bool {
		out = append(out, pk)
		return true
	}
	if hi == nil {
		o.tree.AscendGreaterOrEqual(&pendingKey{key: lo}, collect)
	} else {
		o.tree.AscendRange(&pendingKey{key: lo}, &pendingKey{key: hi}, collect)
	}
	return out
}

// applyTo publishes the batch's changes into the committed index.
func (o *overlay) applyTo(ti *treeIndex) {
	o.tree.Ascend(func(pk *pendingKey) bool {
		ki := ti.getOrCreate(pk.key)
		for i := range pk.changes {
			c := &pk.changes[i]
			if c.tomb {
				ki.tombstone(c.rev)
			} else {
				ki.put(c.rev, c.kv.CreateRevision, c.kv.Version)
			}
		}
		return true
	})
}
