// Package lease keeps Chainfire's leases: etcd's time-to-live handles that
// keys attach to and that delete those keys when they end.
//
// # Replicated state and leader state
//
// A Lessor holds two kinds of state. The replicated part — which leases
// exist, their granted TTL, their last checkpointed remaining TTL and the
// keys attached to each — changes only when Raft entries apply (Grant,
// Remove, Checkpoint, Track), identically on every member, and is stored
// in the "lease" bucket of the member's MVCC database inside the same
// bbolt transaction as the entry, so it survives restarts and travels with
// snapshots. Attached keys are not stored twice: Load rebuilds them from
// the lease field of the store's current keys.
//
// The other part is expiry, which only the leader tracks, in memory, as
// etcd does: a follower's lessor is not primary and never expires
// anything. When a member becomes leader (after it has applied everything
// committed before its term) it calls Promote, which gives every lease a
// fresh deadline of its remaining time plus an election timeout, so an
// election never makes a lease expire. Renewals (keepalives) reach the
// leader and move the deadline. Expired leases are reported by Expired
// and revoked by the leader through Raft like any other write, at a
// bounded rate; Demote drops every deadline when leadership is lost.
//
// Remaining TTLs are checkpointed through Raft for long leases (Due), so
// a new leader continues a one-hour lease where the old one left it
// instead of restarting it from its full TTL.
package lease
