// Package raftnode runs one member's replica of the Raft log on
// hashicorp/raft, and adds what that library leaves to its users.
//
// Storage is durable: the log and stable store are one raft-boltdb (bbolt)
// file behind a small in-memory log cache, snapshots are files, and every
// append is fsynced before it is acknowledged. The state machine is expected
// to persist itself and record the index it has applied in the same atomic
// write (NoSnapshotRestoreOnStart), so a restart neither restores a snapshot
// nor applies an entry twice. It may persist lazily, as etcd's backend does:
// the log keeps every entry after the newest snapshot and Raft re-delivers
// them on start, so only its Snapshot must make it durable (StateMachine).
//
// Peer traffic uses hashicorp/raft's network transport over a plain TCP
// stream layer on the member's peer address. The advertised address may be
// a host name (containers), which the library's TCP transport does not
// allow.
//
// Proposals are group-committed: concurrent Propose calls feed the
// library's apply channel, whose leader loop drains up to MaxAppendEntries
// of them into one log append (one fsync) and hands them to a BatchingFSM
// together.
//
// Linearizable reads use a ReadIndex protocol built on the library's
// primitives: a read records CommitIndex, confirms leadership with
// VerifyLeader (a round of heartbeats to a quorum), and is served once the
// state machine has applied that index. Reads that arrive while a
// confirmation is in flight share the next one, so read throughput does not
// collapse into one heartbeat round per read. A new leader serves no read
// index until an entry of its own term has been applied, since its commit
// index may lag the previous leader's until then. That entry is an empty
// command the state machine applies, not a Barrier: entries the library
// keeps to itself never reach the state machine's applied index, and a read
// index landing on one could not be waited for. While the leader holds a
// lease (lease.go, package raftlease) it skips the VerifyLeader round and
// answers with its commit index at once.
package raftnode
