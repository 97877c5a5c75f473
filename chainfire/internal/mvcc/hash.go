package mvcc

import (
	"encoding/binary"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// KVHash is a checksum of the store's history, for detecting replicas that
// diverged (etcd's HashKV).
type KVHash struct {
	Hash uint32
	// Revision is the revision hashed up to.
	Revision int64
	// CompactRevision is the compact revision when hashed (-1 if none).
	CompactRevision int64
}

// HashKV hashes, with CRC-32C, every record (bbolt key and value, in
// revision order) with a main revision in (CompactRevision, rev], followed by
// the compact revision. rev <= 0 means the current revision.
//
// Records at or below the compact revision are left out on purpose: whether
// the physical part of a compaction has finished differs between replicas,
// while the records above it, being written by the same Raft log, do not.
func (s *Store) HashKV(rev int64) (KVHash, error) {
	if err := s.rlockOpen(); err != nil {
		return KVHash{}, err
	}
	cur, compacted := s.rev, s.compactRev
	at, err := readRev(rev, cur, compacted)
	if err != nil {
		s.mu.RUnlock()
		return KVHash{}, err
	}
	tx, err := s.beginRead()
	s.mu.RUnlock()
	if err != nil {
		return KVHash{}, err
	}
	defer func() { _ = tx.Rollback() }()

	h := crc32.New(castagnoli)
	c := tx.Bucket(keyBucket).Cursor()
	for k, v := c.Seek(seekKey(compacted + 1)); k != nil; k, v = c.Next() {
		r, _, err := parseRevKey(k)
		if err != nil {
			return KVHash{}, err
		}
		if r.Main > at {
			break
		}
		h.Write(k)
		h.Write(v)
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(compacted))
	h.Write(buf[:])
	return KVHash{Hash: h.Sum32(), Revision: at, CompactRevision: compacted}, nil
}
