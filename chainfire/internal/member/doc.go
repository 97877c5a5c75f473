// Package member is one Chainfire member: the MVCC store, the state machine
// applying to it and the Raft replica, tied together behind the operations
// the etcd API needs (propose a command, make a read linearizable, fill a
// response header). It plays the part of etcd's EtcdServer.
//
// Any member accepts any request. A write on a follower is forwarded to the
// leader's MemberService.Propose over the client port, found through the
// attributes every member publishes through Raft when it starts. Forwarding
// is retried only when the request certainly did not reach the log (the
// target was not the leader, or could not be reached); an outcome that is
// uncertain is reported to the client, as etcd does, and never retried
// behind its back, so no write is applied twice.
//
// A linearizable read on the leader waits for a ReadIndex; on a follower it
// asks the leader for one and waits until its own state machine has
// applied that index, then reads locally.
package member
