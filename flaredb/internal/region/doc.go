// Package region is the state machine of one region replica: what a
// region's Raft group applies its committed log entries to, and what serves
// the region's reads.
//
// All regions of a store share one engine (package engine); a Replica owns
// the engine span of its range [start, end) and its two meta keys.
//
// # Applying
//
// Apply and ApplyBatch take committed entries (index, term, RaftCommand).
// Each entry is checked again at apply time against the region's CURRENT
// range and epoch, never only at proposal time: a write proposed before a
// split but committed after it carries the old epoch version and is
// rejected, so it cannot put a key into the range the child region now
// owns. A rejected entry writes nothing but still advances the applied
// index, because it has been applied (as a no-op) in log order on every
// replica.
//
// An entry's writes and the region's new apply state go into one engine
// batch, committed with an fsync, so the applied index on disk always
// matches the data. Entries at or below the persisted applied index are
// skipped, so replaying the Raft log after a restart never applies an entry
// twice. ApplyBatch puts several entries into one batch (hashicorp/raft's
// BatchingFSM), which is what makes group commit cheap.
//
// Epoch rules follow TiKV: data commands and reads must carry the current
// epoch version (a membership change moves no key, so conf_ver is not
// compared for them); admin commands (split, change peer) must match both
// conf_ver and version.
//
// # Split
//
// A split is right-derived, as in TiKV by default: the parent keeps its id
// and the right part [split_key, end); the new child region takes the left
// part [start, split_key). Keeping the parent on the right keeps the hot
// tail of an append-heavy key space on the group that already has an
// elected leader. Both regions get version+1; the child copies conf_ver and
// gets one new peer per parent peer on the same store. The child's state and
// initial apply state (InitialAppliedIndex) are written in the same batch as
// the parent's new state, and Apply returns both so the store can start the
// child's Raft group. No data moves.
//
// # Reads, snapshots, split checks
//
// Reads check the caller's epoch and keys against the region under the
// region's lock and then read from a consistent engine view. WaitApplied
// lets a ReadIndex read wait until the replica has applied the leader's
// commit index.
//
// Snapshot streams a region's state and data from one engine snapshot
// (checksummed; see snapshot.go for the format); Install and InstallNew
// replace the snapshot region's span with a stream in one atomic batch,
// committed only after the checksum matched. Destroy deletes a removed
// replica's data and leaves a tombstone.
//
// ApproximateSize estimates a region's size from table metadata;
// SplitCheck counts its keys and bytes and finds the key that halves it.
//
// # What the Raft layer does with this
//
// For a client write: build the command (PutCommand, ...), reject it early
// with CheckCommand, propose it, and answer from the Result that Apply or
// ApplyBatch returned for its entry. The FSM's Apply/ApplyBatch call the
// methods here; Snapshot/Restore map to Snapshot+WriteTo and Install. A
// Result with Split set means: open the child with Open and start its Raft
// group on the same stores.
package region
