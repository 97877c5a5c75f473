// Package watch delivers the MVCC store's changes to etcd watchers.
//
// The Hub is an apply.Observer: the Raft state machine hands it every
// committed batch of events in revision order, on every member, so
// followers serve watches from their own applied state.
//
// Watchers live in two groups, as in etcd. A synced watcher has received
// every matching event up to the hub's revision and gets new batches as
// they are committed. An unsynced watcher is behind: it asked for a past
// start revision, its stream's buffer was full when a batch arrived, or
// the store was replaced by a snapshot. A background syncer catches
// unsynced watchers up by reading the store's history, then moves them
// into the synced group; a watcher whose position has been compacted away
// is cancelled with the compact revision.
//
// Each Stream (one etcd Watch RPC) has one bounded outbound queue. The
// apply goroutine never waits for it: when a batch does not fit, the
// watchers concerned become unsynced and the batch is dropped for them,
// to be read back from the store once the client drains its queue. Memory
// per stream is therefore bounded whatever the write rate.
package watch
