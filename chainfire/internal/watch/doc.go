// Package watch delivers the MVCC store's changes to etcd watchers.
//
// The Hub is an apply.Observer: the Raft state machine hands it every
// committed batch of events in revision order, on every member, so
// followers serve watches from their own applied state.
package watch
