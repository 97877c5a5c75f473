package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

const (
	prefixLog    = 'l'
	prefixStable = 's'
)

// Options configure a DB.
type Options struct {
	// FS replaces the file system (tests: Pebble's in-memory or crashable
	// file systems).
	FS vfs.FS
	// MemTableSize is Pebble's memtable size in bytes (default
	// defaultMemTableSize).
	MemTableSize uint64
}

// defaultMemTableSize. Larger memtables make each insert into Pebble's
// skiplist miss the CPU cache more often, but 16 MiB showed no gain in
// the 64-region put benchmark (the engine's memtable did gain; see
// docs/bench-flaredb.md), so the log keeps 32 MiB and fewer flushes of
// entries that truncation deletes soon after (BenchmarkStoreLogsMemTable).
const defaultMemTableSize = 32 << 20

// DB holds the logs of every region of one store. It is safe for
// concurrent use; each region's Log is used by that region's Raft alone.
type DB struct {
	db *pebble.DB

	mu   sync.Mutex
	logs map[uint64]*Log

	bufs sync.Pool // *[]byte: StoreLogs' encoding buffers
}

// maxPooledBuf bounds the encoding buffers kept for reuse.
const maxPooledBuf = 1 << 20

func (d *DB) getBuf() *[]byte {
	if b, ok := d.bufs.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

func (d *DB) putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		d.bufs.Put(b)
	}
}

// Open opens (creating if needed) the shared log in dir.
func Open(dir string, o Options) (*DB, error) {
	po := &pebble.Options{Logger: quietLogger{}, MemTableSize: o.MemTableSize}
	if po.MemTableSize == 0 {
		po.MemTableSize = defaultMemTableSize
	}
	if o.FS != nil {
		po.FS = o.FS
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("raftlog: open %s: %w", dir, err)
	}
	return &DB{db: db, logs: map[uint64]*Log{}}, nil
}

// Close closes the DB. Every region's Raft must have stopped.
func (d *DB) Close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("raftlog: close: %w", err)
	}
	return nil
}

// Region returns region id's log, loading its bounds on first use.
func (d *DB) Region(id uint64) (*Log, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l := d.logs[id]; l != nil {
		return l, nil
	}
	l := &Log{d: d, id: id}
	if err := l.loadBounds(); err != nil {
		return nil, err
	}
	d.logs[id] = l
	return l, nil
}

// Drop deletes everything region id stored (its replica was destroyed).
func (d *DB) Drop(id uint64) error {
	d.mu.Lock()
	delete(d.logs, id)
	d.mu.Unlock()
	b := d.db.NewBatch()
	defer b.Close()
	for _, p := range []byte{prefixLog, prefixStable} {
		lo, hi := regionSpan(p, id)
		if err := b.DeleteRange(lo, hi, nil); err != nil {
			return fmt.Errorf("raftlog: drop region %d: %w", id, err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("raftlog: drop region %d: %w", id, err)
	}
	return nil
}

// HasState reports whether region id has any log entry or stable value.
func (d *DB) HasState(id uint64) (bool, error) {
	for _, p := range []byte{prefixLog, prefixStable} {
		lo, hi := regionSpan(p, id)
		it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			return false, err
		}
		found := it.First()
		if err := it.Close(); err != nil {
			return false, err
		}
		if found {
			return true, nil
		}
	}
	return false, nil
}

func regionPrefix(p byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{p}, id)
}

// regionSpan is [lo, hi) covering every key of region id under prefix p.
func regionSpan(p byte, id uint64) (lo, hi []byte) {
	return regionPrefix(p, id), regionPrefix(p, id+1)
}

// logKeyLen is the length of a log key: prefix, region id, index.
const logKeyLen = 1 + 8 + 8

func logKey(id, index uint64) []byte { return appendLogKey(make([]byte, 0, logKeyLen), id, index) }

func appendLogKey(dst []byte, id, index uint64) []byte {
	dst = append(dst, prefixLog)
	dst = binary.BigEndian.AppendUint64(dst, id)
	return binary.BigEndian.AppendUint64(dst, index)
}

func stableKey(id uint64, name []byte) []byte {
	return append(regionPrefix(prefixStable, id), name...)
}

// quietLogger drops Pebble's informational logs; fatal stays fatal.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("raftlog: pebble: "+format, args...))
}

var errCorrupt = errors.New("raftlog: corrupt entry")
