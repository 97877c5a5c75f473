// Package mvcc is Chainfire's multi-version key-value store: the state
// machine that Raft applies into, with etcd v3 semantics on top of a single
// bbolt file.
//
// # Revisions
//
// Every write transaction that changes something gets the next main
// revision; each change inside it gets a sub revision 0, 1, 2, ... An empty
// store is at revision 1, so the first write is revision 2, as in etcd.
// Transactions that change nothing (reads, deletes matching nothing) leave
// the revision alone. Each key carries CreateRevision, ModRevision and a
// Version counting puts since its creation; a delete ends the key's
// generation and a later put starts a new one at Version 1.
//
// # On disk
//
// The "key" bucket holds one record per change, keyed by revision:
//
//	8-byte big-endian main | '_' | 8-byte big-endian sub [| 't' for a tombstone]
//
// and valued by the KeyValue in a small varint encoding (encoding.go).
// Because keys sort by revision, history is append-only and a cursor walks
// it in order. The "meta" bucket holds the applied Raft index and term, the
// current revision and the scheduled and finished compact revisions. bbolt
// runs with fsync on and with the freelist rebuilt on open instead of
// written on every commit.
//
// # In memory
//
// The index (index.go, treeindex.go) is a B-tree of per-key histories, each
// a list of generations of revisions. It maps "key K as of revision R" to the
// record to read, serves ranges in key order and is compacted in place. It is
// rebuilt on Open by replaying the key bucket, so bbolt is the only source of
// truth and a file copied from another replica needs nothing else.
//
// # Writes and Raft
//
// Store.Update opens one bbolt write transaction, lets the caller run any
// number of etcd transactions in it (Batch.Txn, one revision each) and
// records the applied Raft index in the same commit: many log entries, one
// fsync, and after a crash either all of them and their index are on disk or
// none. Writes go to a per-batch overlay first; reads inside the batch see
// overlay over index (read-your-writes, also across the batch's earlier
// transactions). Only after Commit succeeds is the overlay folded into the
// index and the new revision published, under the store's lock, so a failed
// commit leaves nothing to undo. Each Txn returns its events; Batch.OnCommit
// hands the whole batch's events to the watch layer after publication.
// Sibling packages use Batch.Tx to write their own buckets atomically.
//
// # Reads
//
// A read holds the store's read lock only to consult the index and to begin
// a bbolt read transaction; the values are then read from that snapshot
// without the lock. Old revisions are served the same way. Reads run
// concurrently with each other and with Update, which holds the lock
// exclusively only for the short publication step.
//
// # Compaction
//
// Batch.Compact(rev) schedules a compaction in a Raft entry like any other
// change. Its logical half happens at publication: the index forgets the
// history before rev, and reads below rev fail with ErrCompacted. Its
// physical half, deleting the records, runs on a background goroutine in
// bounded bbolt transactions and persists completion, so it resumes on Open
// after a crash (compact.go explains why that is safe). Store.WaitCompaction
// waits for it. The result is identical on every replica.
//
// # Snapshots
//
// Store.Snapshot pins a consistent copy of the whole file to stream to a
// Raft follower; Store.Restore installs such a file and reloads. Alternatively
// callers may Close, swap the file and Open.
package mvcc
