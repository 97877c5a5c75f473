package mvcc

import "errors"

// Sentinel errors. Callers compare with errors.Is; the API layer maps the
// first two onto etcd's wire messages ("mvcc: required revision has been
// compacted", "mvcc: required revision is a future revision").
var (
	// ErrCompacted reports a read, hash or compaction at a revision that
	// compaction has already discarded.
	ErrCompacted = errors.New("mvcc: required revision has been compacted")
	// ErrFutureRev reports a revision above the store's current revision.
	ErrFutureRev = errors.New("mvcc: required revision is a future revision")
	// ErrClosed reports use of a store after Close (or after a failed
	// Restore left it without a database).
	ErrClosed = errors.New("mvcc: store is closed")
	// ErrEmptyKey rejects a Put of the empty key; etcd's API never allows it
	// and the empty key would collide with "from the first key" ranges.
	ErrEmptyKey = errors.New("mvcc: key is empty")
	// ErrStaleIndex rejects an Update whose Raft index is not above the
	// persisted applied index: applying it would apply an entry twice.
	ErrStaleIndex = errors.New("mvcc: raft index already applied")
	// ErrCorrupt reports bytes in the database that do not decode.
	ErrCorrupt = errors.New("mvcc: corrupt record")
	// ErrFailed reports a store whose open write transaction was lost (a
	// failed commit, or a batch that failed after earlier ones had been
	// published but not yet committed): its memory is ahead of its file,
	// so it refuses further writes. Reopening it reloads the durable state,
	// and Raft replays the entries applied after it.
	ErrFailed = errors.New("mvcc: store failed; reopen it to recover from the durable state")
)
