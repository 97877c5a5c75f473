// Package raftleasetest holds the service-independent parts of the lease
// read tests that Chainfire and FlareDB both run against a three-member
// raft group using package raftlease: the cost of reads with and without
// the lease (CheckReadCost), the lease's end at a leadership transfer
// (CheckTransferEndsLease), the partitioned-leader check
// (CheckPartitionedLease) and the restart-inside-lease vote hold scenario
// (CheckRestartedFollowerHold).
//
// A service shows its test cluster to these checks through Group and each
// member through Replica, small adapters over its own node type; starting
// the cluster, writing and reading keys stay with the service's tests.
package raftleasetest
