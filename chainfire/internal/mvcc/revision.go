package mvcc

import (
	"encoding/binary"
	"fmt"
)

// Revision identifies one change: Main is the revision of the write
// transaction, Sub the position of the change inside it (0, 1, 2, ...).
type Revision struct {
	Main int64
	Sub  int64
}

// Less orders revisions by main, then sub revision.
func (r Revision) Less(o Revision) bool {
	if r.Main != o.Main {
		return r.Main < o.Main
	}
	return r.Sub < o.Sub
}

func (r Revision) String() string { return fmt.Sprintf("%d.%d", r.Main, r.Sub) }

const (
	// revKeyLen is the length of a bbolt key for a live change:
	// 8-byte big-endian main, '_', 8-byte big-endian sub. Big-endian makes
	// bbolt's byte order equal revision order, so a cursor walks history.
	revKeyLen = 17
	// tombKeyLen adds the trailing tombstone marker.
	tombKeyLen = revKeyLen + 1
	tombMarker = 't'
)

// revKey encodes rev as a bbolt key, with the tombstone marker if tomb.
func revKey(rev Revision, tomb bool) []byte {
	n := revKeyLen
	if tomb {
		n = tombKeyLen
	}
	b := make([]byte, n)
	binary.BigEndian.PutUint64(b, uint64(rev.Main))
	b[8] = '_'
	binary.BigEndian.PutUint64(b[9:], uint64(rev.Sub))
	if tomb {
		b[revKeyLen] = tombMarker
	}
	return b
}

// seekKey is the smallest bbolt key at or after main revision main.
func seekKey(main int64) []byte { return revKey(Revision{Main: main}, false) }

// parseRevKey decodes a bbolt key produced by revKey.
func parseRevKey(b []byte) (rev Revision, tomb bool, err error) {
	switch {
	case len(b) == tombKeyLen && b[revKeyLen] == tombMarker:
		tomb = true
	case len(b) == revKeyLen:
	default:
		return Revision{}, false, fmt.Errorf("%w: revision key %x", ErrCorrupt, b)
	}
	if b[8] != '_' {
		return Revision{}, false, fmt.Errorf("%w: revision key %x", ErrCorrupt, b)
	}
	rev.Main = int64(binary.BigEndian.Uint64(b))
	rev.Sub = int64(binary.BigEndian.Uint64(b[9:]))
	return rev, tomb, nil
}
