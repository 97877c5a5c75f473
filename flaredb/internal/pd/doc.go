// Package pd is FlareDB's placement driver: the cluster's source of truth
// for the cluster id, the id allocator, the store list and the region
// routing table, and the scheduler that keeps every region at its replica
// target.
//
// # State lives in Chainfire
//
// PD keeps no local files. Everything it must not forget is written to
// Chainfire through Chainfire's etcd v3 API (the project's own generated
// connect client), under one key prefix:
//
//	<prefix>/cluster            cluster id (written once, by bootstrap)
//	<prefix>/alloc_id           highest id handed out (or reserved)
//	<prefix>/stores/<id>        Store
//	<prefix>/regions/<id>       RegionInfo (region and last leader)
//
// A restarted PD loads stores and regions from there and resumes. The id
// allocator reserves ids in batches with a compare-and-swap on the key's
// mod_revision, so ids stay unique across restarts (a restart skips what is
// left of the reserved batch) and even between two PD processes.
//
// # Routing table
//
// Regions are kept in memory in a B-tree ordered by start key, plus a map
// by id. A region heartbeat (or a split report) replaces what it overlaps
// unless it is stale, using TiKV's epoch rules: for the same region id an
// older version, or the same version and an older conf_ver, is stale; a
// region overlapping another region with a higher version is stale (a
// split gives the parent and its child version+1, so a pre-split heartbeat
// of the parent loses against either). Accepted changes are written to
// Chainfire before they become visible in memory, so what PD answers is
// never ahead of what it would recover.
//
// # Replica checker
//
// Every region heartbeat from a leader is answered, when needed, with one
// membership change for the leader to make through Raft: promote a
// learner, add a voter on the least-loaded up store that has no peer of the
// region (until --max-replicas healthy peers), or remove a peer — first
// peers on tombstoned stores, then, once a replacement exists, peers on
// offline stores or stores down for longer than --max-store-down-time,
// then surplus peers on the most loaded store. While a change is pending for a region PD repeats
// the same instruction (same peer id) rather than allocating new ones.
//
// A peer the leader reports unreachable (down_peers) for
// --max-peer-down-time while its store kept heartbeating is replaced too:
// added elsewhere first when a store is free, otherwise removed first so
// its own store can take a new peer with a new id. That is how a store
// that missed a split, and so never created the child's replica, gets one
// (see checker.go).
package pd
