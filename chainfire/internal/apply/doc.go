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
// entries and applies them in ONE mvcc.Update, each entry its own etcd
// transaction and revision, and the batch's last Raft index recorded in
// the same bbolt transaction. As in etcd, applying does not wait for the
// disk: the store keeps one bbolt write transaction open across batches and
// commits it (two fsyncs) every 100ms or 10,000 changes, and reads see
// applied batches before that. The Raft log is what makes an answered write
// durable. After a crash the store reopens at its last commit, data and
// applied index together (DurableIndex); Raft re-delivers the entries after
// its newest snapshot, whose index the store's durable index always covers
// (Snapshot syncs the store first); ApplyBatch skips those at or below the
// durable index and applies the rest again, producing the same revisions,
// lease records and events, so nothing is applied twice or lost.
package apply
