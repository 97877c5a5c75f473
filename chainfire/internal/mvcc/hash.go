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
	cur, compacted, pend := s.rev, s.compactRev, s.pend
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
	src := revRecords{b: tx.Bucket(keyBucket), pend: pend}
	err = src.scan(compacted+1, at, func(k, v []byte) (bool, error) {
		h.Write(k)
		h.Write(v)
		return true, nil
	})
	if err != nil {
		return KVHash{}, err
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(compacted))
	h.Write(buf[:])
	return KVHash{Hash: h.Sum32(), Revision: at, CompactRevision: compacted}, nil
}
