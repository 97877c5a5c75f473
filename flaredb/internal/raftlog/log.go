package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

// Log is one region's raft.LogStore and raft.StableStore.
type Log struct {
	d  *DB
	id uint64

	mu          sync.Mutex
	first, last uint64 // 0, 0 when empty
}

var (
	_ raft.LogStore    = (*Log)(nil)
	_ raft.StableStore = (*Log)(nil)
)

// errStableNotFound is what hashicorp/raft expects for a missing stable
// key: it compares the message, "not found", as raft-boltdb returns it.
var errStableNotFound = errors.New("not found")

func (l *Log) loadBounds() error {
	lo, hi := regionSpan(prefixLog, l.id)
	it, err := l.d.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("raftlog: region %d: %w", l.id, err)
	}
	defer it.Close()
	if it.First() {
		l.first = binary.BigEndian.Uint64(it.Key()[len(lo):])
		it.Last()
		l.last = binary.BigEndian.Uint64(it.Key()[len(lo):])
	}
	return it.Error()
}

// FirstIndex is the first index written, 0 for an empty log.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first, nil
}

// LastIndex is the last index written, 0 for an empty log.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, nil
}

// GetLog reads the entry at index into out.
func (l *Log) GetLog(index uint64, out *raft.Log) error {
	v, closer, err := l.d.db.Get(logKey(l.id, index))
	if errors.Is(err, pebble.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("raftlog: region %d get %d: %w", l.id, index, err)
	}
	defer closer.Close()
	if err := decode(v, out); err != nil {
		return fmt.Errorf("raftlog: region %d entry %d: %w", l.id, index, err)
	}
	out.Index = index
	return nil
}

// StoreLog writes one entry.
func (l *Log) StoreLog(e *raft.Log) error { return l.StoreLogs([]*raft.Log{e}) }

// StoreLogs writes entries in one synced batch; concurrent batches of
// other regions share its fsync.
func (l *Log) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	b := l.d.db.NewBatch()
	defer b.Close()
	// The batch copies keys and values: encode into reused buffers.
	bufp := l.d.getBuf()
	defer l.d.putBuf(bufp)
	var key [logKeyLen]byte
	for _, e := range logs {
		*bufp = encode((*bufp)[:0], e)
		if err := b.Set(appendLogKey(key[:0], l.id, e.Index), *bufp, nil); err != nil {
			return fmt.Errorf("raftlog: region %d: %w", l.id, err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("raftlog: region %d store logs: %w", l.id, err)
	}
	l.mu.Lock()
	if l.first == 0 {
		l.first = logs[0].Index
	}
	l.last = max(l.last, logs[len(logs)-1].Index)
	l.mu.Unlock()
	return nil
}

// DeleteRange removes entries [lo, hi] (a compacted prefix, or a conflicting
// suffix a follower replaces).
func (l *Log) DeleteRange(lo, hi uint64) error {
	b := l.d.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(logKey(l.id, lo), logKey(l.id, hi+1), nil); err != nil {
		return fmt.Errorf("raftlog: region %d: %w", l.id, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("raftlog: region %d delete [%d, %d]: %w", l.id, lo, hi, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.first == 0:
	case lo <= l.first && hi >= l.last:
		l.first, l.last = 0, 0
	case lo <= l.first:
		l.first = max(l.first, hi+1)
	case hi >= l.last:
		l.last = min(l.last, lo-1)
	}
	return nil
}

// Set writes a stable value.
func (l *Log) Set(k, v []byte) error {
	if err := l.d.db.Set(stableKey(l.id, k), v, pebble.Sync); err != nil {
		return fmt.Errorf("raftlog: region %d set %q: %w", l.id, k, err)
	}
	return nil
}

// Get reads a stable value ("not found" error when absent, as raft expects).
func (l *Log) Get(k []byte) ([]byte, error) {
	v, closer, err := l.d.db.Get(stableKey(l.id, k))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, errStableNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("raftlog: region %d get %q: %w", l.id, k, err)
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

// SetUint64 writes a stable integer.
func (l *Log) SetUint64(k []byte, v uint64) error {
	return l.Set(k, binary.BigEndian.AppendUint64(nil, v))
}

// GetUint64 reads a stable integer.
func (l *Log) GetUint64(k []byte) (uint64, error) {
	v, err := l.Get(k)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftlog: region %d: %q holds %d bytes, not 8", l.id, k, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// encode appends e (all but its index, which is in the key) to buf:
// term, type, appended-at, data and extensions, the last two length-prefixed.
func encode(buf []byte, e *raft.Log) []byte {
	buf = binary.AppendUvarint(buf, e.Term)
	buf = append(buf, byte(e.Type))
	var at int64
	if !e.AppendedAt.IsZero() {
		at = e.AppendedAt.UnixNano()
	}
	buf = binary.AppendVarint(buf, at)
	buf = binary.AppendUvarint(buf, uint64(len(e.Data)))
	buf = append(buf, e.Data...)
	buf = binary.AppendUvarint(buf, uint64(len(e.Extensions)))
	return append(buf, e.Extensions...)
}

func decode(b []byte, out *raft.Log) error {
	term, n := binary.Uvarint(b)
	if n <= 0 || len(b) < n+1 {
		return errCorrupt
	}
	out.Term, out.Type = term, raft.LogType(b[n])
	b = b[n+1:]
	at, n := binary.Varint(b)
	if n <= 0 {
		return errCorrupt
	}
	out.AppendedAt = time.Time{}
	if at != 0 {
		out.AppendedAt = time.Unix(0, at)
	}
	b = b[n:]
	var err error
	if out.Data, b, err = lengthPrefixed(b); err != nil {
		return err
	}
	if out.Extensions, b, err = lengthPrefixed(b); err != nil {
		return err
	}
	if len(b) != 0 {
		return errCorrupt
	}
	return nil
}

// lengthPrefixed splits a copied length-prefixed field off b (nil when
// empty, as raft compares data with nil).
func lengthPrefixed(b []byte) (field, rest []byte, err error) {
	size, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < size {
		return nil, nil, errCorrupt
	}
	b = b[n:]
	if size > 0 {
		field = append([]byte(nil), b[:size]...)
	}
	return field, b[size:], nil
}
