// Package etcdapi serves etcd's v3 gRPC API (package etcdserverpb) on top
// of a member: request validation with etcd's exact errors, the choice
// between linearizable and serializable reads, proposals for writes, and
// response headers. Services or methods not implemented here answer a clean
// gRPC Unimplemented through the generated connect handlers.
//
// Validation that needs no state happens here, before anything is proposed,
// so a bad request never reaches the Raft log: empty keys, ignore_value or
// ignore_lease given together with a value or lease, invalid sort options,
// too many operations in a txn, and a key written twice in one txn.
package etcdapi
