package engine

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configure an engine.
type Options struct {
	// InMemory keeps the engine in memory (tests only: nothing survives
	// Close).
	InMemory bool
	// Logger receives Pebble's log lines; nil silences them, since a store
	// logs through slog and Pebble's own chatter is mostly compaction noise.
	Logger pebble.Logger
	// CacheSize is the block cache size in bytes (default 128 MiB).
	CacheSize int64
	// MemTableSize is the memtable size in bytes (default 16 MiB: an
	// insert into Pebble's skiplist misses the CPU cache at most of its
	// levels, so a memtable larger than the cache makes every applied
	// write dearer; BenchmarkApplyMemTable).
	MemTableSize uint64
	// FS replaces the file system; tests use it to simulate crashes with
	// Pebble's crashable in-memory file system.
	FS vfs.FS
	// ApplyNoSync makes Batch.CommitApply skip the fsync. A store sets it:
	// its Raft log is durable and re-delivers every entry after the last
	// Raft snapshot, and the FSM calls Sync before each snapshot, so an
	// applied batch lost in a crash is applied again on restart (TiKV does
	// not sync its KV engine on apply either).
	ApplyNoSync bool
}

const defaultMemTableSize = 16 << 20

// pebbleOptions turns Options into Pebble's. Bloom filters on every level
// matter here: most reads are point Gets, and without filters each one
// probes every L0 table that overlaps the key.
func (o Options) pebbleOptions() *pebble.Options {
	po := &pebble.Options{
		Logger:       o.Logger,
		CacheSize:    o.CacheSize,
		MemTableSize: o.MemTableSize,
	}
	if po.Logger == nil {
		po.Logger = quietLogger{}
	}
	if po.CacheSize == 0 {
		po.CacheSize = 128 << 20
	}
	if po.MemTableSize == 0 {
		po.MemTableSize = defaultMemTableSize
	}
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	switch {
	case o.FS != nil:
		po.FS = o.FS
	case o.InMemory:
		po.FS = vfs.NewMem()
	}
	return po
}

// Engine is a store's Pebble database. It is safe for concurrent use.
type Engine struct {
	db          *pebble.DB
	closed      atomic.Bool
	applyNoSync bool
}

// Open opens (creating if needed) the engine in dir.
func Open(dir string, opts Options) (*Engine, error) {
	db, err := pebble.Open(dir, opts.pebbleOptions())
	if err != nil {
		return nil, fmt.Errorf("engine: open %s: %w", dir, err)
	}
	return &Engine{db: db, applyNoSync: opts.ApplyNoSync}, nil
}

// Sync makes every write committed so far durable (one synced WAL record:
// Pebble's WAL is ordered, so it covers all earlier unsynced batches).
func (e *Engine) Sync() error {
	if err := e.db.LogData([]byte("sync"), pebble.Sync); err != nil {
		return fmt.Errorf("engine: sync: %w", err)
	}
	return nil
}

// Close closes the engine. Every View and Batch must be closed first.
// Closing twice is a no-op (Pebble itself panics).
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	if err := e.db.Close(); err != nil {
		return fmt.Errorf("engine: close: %w", err)
	}
	return nil
}

// NewBatch starts an indexed write batch: reads through it see the engine
// plus the batch's own writes.
func (e *Engine) NewBatch() *Batch {
	b := e.db.NewIndexedBatch()
	return &Batch{View: View{r: b}, b: b, applyNoSync: e.applyNoSync}
}

// NewSnapshot returns a consistent point-in-time View of the engine.
func (e *Engine) NewSnapshot() *View {
	return &View{r: e.db.NewSnapshot()}
}

// Live returns a View of the engine's current state. Each read through it
// sees the latest committed writes, so use it for single point reads, a
// snapshot for anything that must be consistent across reads. Closing it is
// a no-op.
func (e *Engine) Live() *View {
	return &View{r: e.db, shared: true}
}

// EstimateDiskUsage approximates the on-disk bytes of the user keys in
// [start, end) (empty end: unbounded). Data still in the memtable is not
// counted, so this is an estimate for split checks, not an exact size.
func (e *Engine) EstimateDiskUsage(start, end []byte) (uint64, error) {
	lower, upper := DataSpan(start, end)
	n, err := e.db.EstimateDiskUsage(lower, upper)
	if err != nil {
		return 0, fmt.Errorf("engine: estimate disk usage: %w", err)
	}
	return n, nil
}

// Flush flushes the memtable to disk (used by tests and before size checks
// that want on-disk estimates to be current).
func (e *Engine) Flush() error {
	if err := e.db.Flush(); err != nil {
		return fmt.Errorf("engine: flush: %w", err)
	}
	return nil
}

// ErrNotFound is returned by meta reads when the key is absent.
var ErrNotFound = errors.New("engine: not found")

// quietLogger drops Pebble's informational logs but keeps fatal errors
// fatal, as Pebble expects.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
