// Package apply is Chainfire's Raft state machine: it turns committed
// RaftCommands into changes of the MVCC store and into the etcd responses
// the proposing client receives.
//
// Every member applies the same commands in the same order, so everything
// here is deterministic: a command carries the whole etcd request, and its
// effect depends only on the store's state. Validation that does not depend
// on state (empty keys, txn size, duplicate keys) happens before proposing,
// in the API layer; what depends on state (compacted revisions, ignore_value
// on a missing key) is checked here, before a transaction writes anything,
// exactly as etcd does, so a failing request changes nothing.
//
// Group commit: ApplyBatch receives up to MaxAppendEntries committed log
// entries and applies them in ONE mvcc.Update (one bbolt transaction, one
// fsync), each entry its own etcd transaction and revision. The batch's last
// Raft index is stored in that same transaction; entries at or below the
// stored index are skipped, so replaying the log after a restart never
// applies an entry twice.
package apply
