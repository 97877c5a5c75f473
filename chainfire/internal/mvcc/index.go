package mvcc

import "sort"

// generation is one life of a key: from the put that created it up to and
// including the tombstone that ended it. The newest generation of a key is
// open (no tombstone yet) and may be empty right after a delete.
type generation struct {
	// created is the CreateRevision of the generation. It is kept even after
	// compaction dropped the creating revision from revs.
	created int64
	// ver is the Version of the newest put in revs.
	ver int64
	// revs lists the changes of the generation in ascending order; when the
	// generation is closed, the last entry is its tombstone.
	revs []Revision
}

// keyIndex is the in-memory history of one key: every revision at which it
// changed, grouped into generations. It answers "which bbolt record holds
// key K as of revision R" without touching disk.
type keyIndex struct {
	key  []byte
	gens []generation // never empty; the last one is the open generation
}

func newKeyIndex(key []byte) *keyIndex {
	return &keyIndex{key: key, gens: make([]generation, 1)}
}

// open returns the newest (open) generation.
func (ki *keyIndex) open() *generation { return &ki.gens[len(ki.gens)-1] }

// put records a new version. created and ver come from the KeyValue, so an
// index rebuilt from a compacted bucket carries the same values as the one
// that was compacted in memory.
func (ki *keyIndex) put(rev Revision, created, ver int64) {
	g := ki.open()
	if len(g.revs) == 0 {
		g.created = created
	}
	g.revs = append(g.revs, rev)
	g.ver = ver
}

// tombstone closes the open generation at rev. It reports false, changing
// nothing, if the key is not live; that only happens while rebuilding from a
// bucket whose compaction was interrupted, where the puts before a tombstone
// may already be gone.
func (ki *keyIndex) tombstone(rev Revision) bool {
	g := ki.open()
	if len(g.revs) == 0 {
		return false
	}
	g.revs = append(g.revs, rev)
	ki.gens = append(ki.gens, generation{})
	return true
}

// empty reports a key with no history left (only an empty open generation).
func (ki *keyIndex) empty() bool {
	return len(ki.gens) == 1 && len(ki.gens[0].revs) == 0
}

// get returns the revision of the version visible at main revision at, or
// false if the key did not exist then.
func (ki *keyIndex) get(at int64) (Revision, bool) {
	for i := len(ki.gens) - 1; i >= 0; i-- {
		g := &ki.gens[i]
		if len(g.revs) == 0 || g.revs[0].Main > at {
			continue
		}
		closed := i < len(ki.gens)-1
		if closed && g.revs[len(g.revs)-1].Main <= at {
			return Revision{}, false // deleted at or before at
		}
		j := sort.Search(len(g.revs), func(k int) bool { return g.revs[k].Main > at })
		return g.revs[j-1], true
	}
	return Revision{}, false
}

// compact drops history that no read at a revision >= at can reach: closed
// generations whose tombstone is <= at, and within the surviving oldest
// generation every revision older than the newest one <= at. The revision
// that survives as "the value at at" is added to keep, which tells physical
// compaction what to spare. It reports whether the key has no history left.
func (ki *keyIndex) compact(at int64, keep map[Revision]struct{}) bool {
	drop := 0
	for drop < len(ki.gens)-1 {
		g := &ki.gens[drop]
		if g.revs[len(g.revs)-1].Main > at {
			break
		}
		drop++
	}
	if drop > 0 {
		ki.gens = append([]generation(nil), ki.gens[drop:]...)
	}
	g := &ki.gens[0]
	j := sort.Search(len(g.revs), func(k int) bool { return g.revs[k].Main > at }) - 1
	if j >= 0 {
		// g is open, or closed after at, so revs[j] is a put.
		keep[g.revs[j]] = struct{}{}
		if j > 0 {
			g.revs = append([]Revision(nil), g.revs[j:]...)
		}
	}
	return ki.empty()
}
